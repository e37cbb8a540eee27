/*
 * cmd_xfer.c - data channel setup (PASV EPSV PORT EPRT), transfers (RETR
 * STOR STOU APPE REST ABOR) and listings (LIST NLST MLSD MLST); the
 * digests are in cmd_hash.c.
 *
 * Every transfer follows one shape: check the request and reply 5xx before
 * touching the data channel; reply 150; open the data connection (425 if it
 * does not come); move the bytes; reply 226 only when the transfer is
 * complete, else the failure reply of reply_xfer_failure.
 */
#include "common/stats.h"
#include "common/log.h"
#include "common/numparse.h"
#include "common/pathnorm.h"
#include "server/cmd_handlers.h"
#include "server/cmdparse.h"
#include "server/datachan.h"
#include "common/fsgate.h"
#include "server/listing.h"
#include "server/server.h"
#include "server/session.h"
#include "server/transfer.h"
#include "server/upload.h"
#include "server/xferlog.h"
#include "server/reply.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Largest listing sent in one go (a directory of ~1M entries). */

static double
seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int
refuse_after_epsv_all(struct session *s, const char *verb)
{
	if (!s->epsv_all)
		return 0;
	/* RFC 2428 section 4: after EPSV ALL only EPSV may set up data. */
	reply(s, 501, "%s not allowed after EPSV ALL.", verb);
	return 1;
}

HANDLER(cmd_pasv)
{
	struct in_addr a;
	unsigned char *b = (unsigned char *)&a;
	int port;

	(void)arg;
	if (refuse_after_epsv_all(s, "PASV"))
		return;
	/* The listener is bound to the control connection's own address, so
	 * an IPv6 client gets 522 even with passive_address set: that IPv4
	 * address led to no listener, and the client waited out
	 * data_timeout for a 425 (found from outside). */
	if (s->local.ss_family == AF_INET) {
		a = ((struct sockaddr_in *)&s->local)->sin_addr;
	} else if (IN6_IS_ADDR_V4MAPPED(
	               &((struct sockaddr_in6 *)&s->local)->sin6_addr)) {
		memcpy(&a,
		    ((struct sockaddr_in6 *)&s->local)->sin6_addr.s6_addr + 12,
		    4);
	} else {
		reply(s, 522, "PASV needs IPv4; use EPSV.");
		return;
	}
	if (s->srv->cfg.passive_address[0] != '\0')
		inet_pton(AF_INET, s->srv->cfg.passive_address, &a);
	port = dc_listen(s);
	if (port < 0) {
		reply(s, 425, "Cannot open passive connection.");
		return;
	}
	reply(s, 227, "Entering Passive Mode (%u,%u,%u,%u,%d,%d).", b[0], b[1],
	    b[2], b[3], port >> 8, port & 0xff);
}

HANDLER(cmd_epsv)
{
	/* RFC 2428's protocols the client's connection can use: 1 (IPv4)
	 * also on a dual-stack listener, whose address is v4-mapped there
	 * (it said 522 to EPSV 1); 2 (IPv6) only on a real IPv6 connection.
	 * The listener is bound to the control connection's local address,
	 * so an IPv4 client's EPSV 2 got 229 for a port that refuses every
	 * IPv6 connection; RFC 2428 section 3 wants 522 there. */
	int mapped = s->local.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(
	        &((struct sockaddr_in6 *)&s->local)->sin6_addr);
	int v6 = s->local.ss_family == AF_INET6 && !mapped;
	int port;

	if (strcasecmp(arg, "ALL") == 0) {
		s->epsv_all = 1;
		reply(s, 200, "EPSV ALL ok.");
		return;
	}
	if (arg[0] != '\0' && (arg[0] < '0' || arg[0] > '9')) {
		reply(s, 501, "Syntax: EPSV [<protocol>|ALL].");
		return;
	}
	/* RFC 2428 section 3: an unsupported protocol gets 522. */
	if (arg[0] != '\0' && (arg[1] != '\0' || arg[0] != (v6 ? '2' : '1'))) {
		reply(s, 522, "Network protocol not supported, use (%s).",
		    v6 ? "2" : "1");
		return;
	}
	port = dc_listen(s);
	if (port < 0) {
		reply(s, 425, "Cannot open passive connection.");
		return;
	}
	reply(s, 229, "Entering Extended Passive Mode (|||%d|).", port);
}

static void
set_active(struct session *s, const struct sockaddr_storage *ss, socklen_t len,
    const char *verb)
{
	if (dc_set_active(s, ss, len) < 0) {
		reply(s, 504,
		    "%s refused: data connections go only to your "
		    "own address and an unprivileged port.",
		    verb);
		return;
	}
	reply(s, 200, "%s command successful.", verb);
}

HANDLER(cmd_port)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (refuse_after_epsv_all(s, "PORT"))
		return;
	if (cmd_parse_port(arg, &ss, &len) < 0) {
		reply(s, 501, "Syntax: PORT h1,h2,h3,h4,p1,p2.");
		return;
	}
	set_active(s, &ss, len, "PORT");
}

HANDLER(cmd_eprt)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (refuse_after_epsv_all(s, "EPRT"))
		return;
	if (cmd_parse_eprt(arg, &ss, &len) < 0) {
		/* RFC 2428: 522 for an unknown family, 501 for the rest. */
		if (arg[0] != '\0' && arg[1] != '\0' && arg[1] != '1' &&
		    arg[1] != '2')
			reply(s, 522,
			    "Network protocol not supported, use "
			    "(1,2).");
		else
			reply(s, 501,
			    "Syntax: EPRT |1|addr|port| or "
			    "|2|addr|port|.");
		return;
	}
	set_active(s, &ss, len, "EPRT");
}

HANDLER(cmd_rest)
{
	uint64_t off;

	if (parse_u64(arg, INT64_MAX, &off) < 0) {
		s->rest = 0; /* an earlier REST is not what the client meant */
		reply(s, 501, "REST needs a byte offset.");
		return;
	}
	s->rest = off;
	reply(s, 350, "Restarting at %llu. Send STOR, APPE or RETR.",
	    (unsigned long long)off);
}

HANDLER(cmd_abor)
{
	(void)arg;
	/* No transfer runs while we are here: ABOR during one is handled
	 * by transfer.c. Drop any pending data-channel setup. */
	session_dc_reset(s);
	s->rest = 0;
	reply(s, 225, "No transfer to abort.");
}

/* Opens the data connection after the 150 reply: 0, or -1 with why,
 * nothing replied yet (data_refused). */
static int
try_data(struct session *s, struct dconn *dc, int out, enum dc_err *why)
{
	s->xfer_out = out;
	s->xfer_behind = s->inlen > 0;
	return dc_open(s, dc, why) == 0 ? 0 : -1;
}

/* The reply to a data connection try_data could not open: 425 with what
 * went wrong and, for TLS, what to change. */
static void
data_refused(struct session *s, const struct dconn *dc, enum dc_err why)
{
	switch (why) {
	case DC_ERR_NO_REUSE:
		reply(s, 425,
		    "TLS session of data connection not resumed: the client "
		    "must reuse the control connection's TLS session (or the "
		    "admin sets require_session_reuse = off in [tls]).");
		break;
	case DC_ERR_TLS:
		reply(s, 425, "TLS handshake on the data connection failed.");
		break;
	case DC_ERR_ABORTED:
		/* RFC 959 4.1.3 ABOR: 426 for the transfer, then 226. */
		reply(s, 426, "Connection closed; transfer aborted.");
		reply(s, 226, "ABOR command successful.");
		break;
	case DC_ERR_GONE:
		reply(s, 426, "Transfer aborted: control connection closed.");
		break;
	case DC_ERR_LOCAL:
		reply(s, 425, "Cannot open data connection: %s.",
		    strerror(dc->err));
		break;
	case DC_ERR_NONE:
	case DC_ERR_CONNECT:
		reply(s, 425, "Cannot open data connection.");
		break;
	}
}

/* try_data, and data_refused's reply on failure. */
static int
open_data(struct session *s, struct dconn *dc, int out)
{
	enum dc_err why;

	if (try_data(s, dc, out, &why) == 0)
		return 0;
	data_refused(s, dc, why);
	return -1;
}

/* Before the 150: a data connection is set up, and protected if the
 * server or the user requires it (RFC 4217 9: 521 for PROT C). */
static int
need_data_setup(struct session *s)
{
	if (!s->prot_p && session_requires_data_tls(s)) {
		session_log_capped(s, &s->perm_refused, LOG_INFO,
		    "permission refusals",
		    "clear-text data connection refused");
		session_dc_reset(s);
		reply(s, 521,
		    "Data connections must be protected: send PBSZ 0 and "
		    "PROT P (require_data_tls).");
		return 1;
	}
	if (s->dc_mode != DC_NONE)
		return 0;
	session_bad_command(s, "command out of sequence",
	    s->cmd_verb != NULL ? s->cmd_verb : "",
	    "no PASV, EPSV, PORT or EPRT before it");
	reply(s, 425, "Use PASV, EPSV, PORT or EPRT first.");
	return 1;
}

/* The reply for a transfer that did not end with XFER_OK. */
static void
reply_xfer_failure(struct session *s, enum xfer_result r, int err)
{
	switch (r) {
	case XFER_OK:
		break;
	case XFER_ABORTED:
		/* RFC 959 4.1.3 ABOR: 426 for the transfer, then 226. */
		reply(s, 426, "Connection closed; transfer aborted.");
		reply(s, 226, "ABOR command successful.");
		break;
	case XFER_CTRL_DEAD:
		/* Nobody to tell, or shutting down: try once, no more. */
		reply(s, 426,
		    "Transfer aborted: control connection closed "
		    "or server shutting down.");
		break;
	case XFER_DATA_ERR:
		reply(s, 426, "Data connection failed; transfer aborted.");
		break;
	case XFER_TIMEOUT:
		reply(s, 426, "Data connection timed out; transfer aborted.");
		break;
	case XFER_DISK_ERR:
		if (err == ENOSPC)
			reply(s, 452, "Insufficient storage space.");
		else if (err == EISDIR)
			/* Made a folder by another session meanwhile: no retry
			 * of this name can work (RFC 959: name not allowed). */
			reply(s, 553,
			    "The name is a folder now; the upload was not "
			    "stored under it.");
		else if (err == EDQUOT)
			reply(s, 552, "Disk quota exceeded.");
		else if (err == EEXIST)
			/* Another file took the name during the upload
			 * (made, or renamed there), and this user may not
			 * replace it (upload_commit). */
			reply(s, 553,
			    "The file changed, or another took its name, "
			    "during the upload; replacing that needs the "
			    "delete permission. The upload was not stored.");
		else
			reply(s, 451, "Local error: %s.", strerror(err));
		break;
	case XFER_QUOTA:
		stats_add(s->srv->stats, STAT_QUOTA_REFUSED, 1);
		reply(s, 552, "Quota exceeded; upload stopped.");
		break;
	case XFER_TOO_SLOW:
		reply(s, 426,
		    "Transfer too slow (under %llu bytes/s for %llu s); "
		    "aborted.",
		    (unsigned long long)s->srv->cfg.data_min_rate,
		    (unsigned long long)s->srv->cfg.data_timeout);
		break;
	case XFER_USER_GONE:
		/* As the next command would have been answered (cmdtable.c),
		 * which no longer sees the removal: the transfer saw it. */
		reply(s, 426, "Your account was removed; transfer aborted.");
		reply(s, 421, "Your account was removed; log in again.");
		session_enter_state(s, SESS_CLOSING);
		break;
	}
}

/* Why a transfer did not complete, for its log line: the reply tells the
 * client, and the log said only "stopped" (a listing: nothing), so a
 * client that vanished could not be told from one that sent ABOR. */
static const char *
xfer_failure_why(enum xfer_result r, int err)
{
	switch (r) {
	case XFER_OK:
		return "complete";
	case XFER_ABORTED:
		return "ABOR";
	case XFER_CTRL_DEAD:
		return "the control connection closed, or the server is stopping";
	case XFER_DATA_ERR:
		return "the data connection failed or was reset";
	case XFER_TIMEOUT:
		return "the data connection timed out: data_timeout";
	case XFER_DISK_ERR:
		return strerror(err);
	case XFER_QUOTA:
		return "quota exceeded";
	case XFER_TOO_SLOW:
		return "slower than data_min_rate";
	case XFER_USER_GONE:
		return "the user was removed from users.ini";
	}
	return "?";
}

int
cmd_open_plain(struct session *s, const char *arg, char *vpath, uint64_t *size)
{
	struct stat st;
	int fd;

	if (cmd_path(s, arg, vpath) < 0)
		return -1;
	fd = fs_open(s->root_fd, vpath, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0) {
		reply_errno_at(s, 550, arg, vpath, errno);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		reply_refused_at(s, 550, arg, vpath, "Not a plain file");
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

HANDLER(cmd_retr)
{
	char vpath[RFTP_PATH_MAX];
	struct timespec t0;
	uint64_t rest = s->rest, sent = 0, size;
	enum xfer_result r;
	int ffd, err = 0;
	struct dconn dc;

	s->rest = 0;
	ffd = cmd_open_plain(s, arg, vpath, &size);
	if (ffd < 0)
		return;
	if (rest > size) {
		close(ffd);
		log_refused_at(s, vpath, "REST beyond the file's end");
		reply(s, 554, "REST %llu is beyond the end of %s (%llu bytes).",
		    (unsigned long long)rest, arg, (unsigned long long)size);
		return;
	}
	if (need_data_setup(s)) {
		close(ffd);
		return;
	}
	reply(s, 150, "Opening %s mode data connection for %s (%llu bytes).",
	    s->ascii ? "ASCII" : "BINARY", arg, (unsigned long long)size);
	if (open_data(s, &dc, 1) < 0) {
		/* 150 said it would come: a download that ended without
		 * 226, like one cut short. */
		stats_add(s->srv->stats, STAT_DOWNLOADS_ABORTED, 1);
		close(ffd);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = xfer_send_file(s, &dc, ffd, rest, &sent, &err);
	dc_close(s, &dc, r == XFER_OK);
	close(ffd);
	s->bytes_out += sent;
	stats_add(s->srv->stats, STAT_DOWNLOAD_BYTES, sent);
	xferlog_write(s->srv->xferlog, s->peer_ip, s->user.name, vpath, sent,
	    seconds_since(&t0), s->ascii, 'o', r == XFER_OK ? 'c' : 'i');
	if (r != XFER_OK) {
		slog(s, LOG_INFO, "download of %s stopped after %llu bytes: %s",
		    vpath, (unsigned long long)sent, xfer_failure_why(r, err));
		stats_add(s->srv->stats, STAT_DOWNLOADS_ABORTED, 1);
		reply_xfer_failure(s, r, err);
		return;
	}
	s->files_out++;
	stats_add(s->srv->stats, STAT_DOWNLOADS_COMPLETED, 1);
	slog(s, LOG_INFO, "sent %s (%llu bytes)", vpath,
	    (unsigned long long)sent);
	reply(s, 226, "Transfer complete.");
}

/* The reply (and log line) for an upload upload_begin refused. */
static void
refuse_upload(struct session *s, const char *vpath, const struct upload *up,
    enum upload_err e, uint64_t rest)
{
	switch (e) {
	case UPLOAD_OK:
		break;
	case UPLOAD_ERR_UNIQUE:
		log_refused_at(s, vpath, "no unique name could be made");
		reply(s, 553, "Cannot make a unique file name.");
		break;
	case UPLOAD_ERR_RESERVED:
		cmd_reply_reserved(s);
		break;
	case UPLOAD_ERR_CREATE:
		reply_errno_at(s, 553, "Cannot create file", vpath, up->err);
		break;
	case UPLOAD_ERR_IS_DIR:
		reply_refused_at(
		    s, 553, "Cannot create file", vpath, "Is a directory");
		break;
	case UPLOAD_ERR_UNCOUNTED:
		session_log_capped(s, &s->home_uncounted, LOG_WARN,
		    "warnings that the home was not counted",
		    "upload of %s refused: the home was not counted "
		    "completely for the quota (%s)",
		    vpath, up->why);
		stats_add(s->srv->stats, STAT_QUOTA_REFUSED, 1);
		reply(s, 552,
		    "Quota cannot be checked: your home could not be "
		    "counted completely; uploads are refused.");
		break;
	case UPLOAD_ERR_FOLDER:
		cmd_refuse_folder_full(s, "upload of ", vpath);
		break;
	case UPLOAD_ERR_BUSY:
		log_refused_at(s, vpath, "being uploaded by another session");
		reply(s, 450,
		    "%s is being uploaded by another session; try later.",
		    up->leaf);
		break;
	case UPLOAD_ERR_FILES:
		session_log_capped(s, &s->quota_refused, LOG_INFO,
		    "quota refusals", "upload of %s refused: file quota",
		    vpath);
		stats_add(s->srv->stats, STAT_QUOTA_REFUSED, 1);
		reply(s, 552, "Quota exceeded: too many files.");
		break;
	case UPLOAD_ERR_RESTART:
		reply_errno_at(s, 451, "Cannot restart upload", vpath, up->err);
		break;
	case UPLOAD_ERR_REST_MISMATCH:
		log_refused_at(
		    s, vpath, "REST past the bytes of its interrupted upload");
		reply(s, 554,
		    "REST %llu is past the %llu bytes already received "
		    "for %s; send REST %llu to resume or REST 0 to start "
		    "over.",
		    (unsigned long long)rest, (unsigned long long)up->have,
		    up->leaf, (unsigned long long)up->have);
		break;
	case UPLOAD_ERR_APPE_PENDING:
		log_refused_at(s, vpath,
		    "APPE beside an interrupted upload that was to replace "
		    "it");
		reply(s, 554,
		    "%s has an interrupted upload of %llu bytes that was to "
		    "replace it; send REST %llu and STOR to resume it, or STOR "
		    "to start over.",
		    up->leaf, (unsigned long long)up->have,
		    (unsigned long long)up->have);
		break;
	case UPLOAD_ERR_REST_BEYOND:
		log_refused_at(s, vpath, "REST beyond the file's end");
		reply(s, 554,
		    "REST %llu is beyond the %llu bytes stored for %s.",
		    (unsigned long long)rest, (unsigned long long)up->have,
		    up->leaf);
		break;
	case UPLOAD_ERR_QUOTA:
		session_log_capped(s, &s->quota_refused, LOG_INFO,
		    "quota refusals",
		    "upload of %s refused: byte quota (the bytes it keeps "
		    "from the file would pass quota_bytes %llu)",
		    vpath, (unsigned long long)s->user.quota_bytes);
		stats_add(s->srv->stats, STAT_QUOTA_REFUSED, 1);
		reply(s, 552, "Quota exceeded.");
		break;
	case UPLOAD_ERR_APPEND:
		reply_errno_at(s, 451, "Cannot append", vpath, up->err);
		break;
	case UPLOAD_ERR_SEEK:
		reply_errno_at(s, 451, "Cannot seek", vpath, up->err);
		break;
	case UPLOAD_ERR_APPE_REST:
		log_refused_at(
		    s, vpath, "REST does not match where APPE appends");
		reply(s, 554,
		    "APPE appends after the %llu bytes %s holds: REST %llu "
		    "does not match; send APPE alone, or REST and STOR.",
		    (unsigned long long)up->have, up->leaf,
		    (unsigned long long)rest);
		break;
	case UPLOAD_ERR_NEEDS_DELETE:
	case UPLOAD_ERR_NEEDS_APPEND: {
		int del = e == UPLOAD_ERR_NEEDS_DELETE;
		const char *doing = del ? "replacing" : "appending to";
		const char *perm = del ? "delete" : "append";

		session_log_capped(s, &s->perm_refused, LOG_INFO,
		    "permission refusals",
		    "upload of %s refused: it exists, and %s it needs the %s "
		    "permission",
		    vpath, doing, perm);
		reply(s, 550, "%s exists; %s it needs the %s permission.",
		    up->leaf, doing, perm);
		break;
	}
	}
}

/* Publishes a received upload and records it for the mirror, in that
 * order and under the user's change lock: a rename of the folder in
 * another session comes wholly before or after. Returns -1 if the mirror
 * could not record the coming change (451 sent, nothing published), else
 * 0 with *r XFER_OK or the failure (err set) and *queued 0 if the mirror
 * could not record the published file. Ends stream (the mirror's push of
 * the bytes as they arrived), complete only if the file was published. */
static int
publish_upload(struct session *s, const struct upload_home *h,
    struct upload *up, enum upload_mode mode, char *vpath, uint64_t got,
    void *stream, enum xfer_result *r, int *queued, int *err)
{
	char before[RFTP_PATH_MAX];
	struct change_token tok;
	int rc;

	if (cmd_change_begin(s, CHANGE_PUT, vpath, NULL, &tok) < 0) {
		session_stream_end(s, stream, 0, up->offset + got);
		return -1;
	}
	memcpy(before, vpath, strlen(vpath) + 1);
	/* Without may_replace, upload_commit keeps a file another program
	 * or session put under the name meanwhile (EEXIST). */
	rc = upload_commit(h, up, mode == UP_STOU, vpath);
	if (rc < 0) {
		*err = errno;
		if (*err == EDQUOT)
			slog(s, LOG_INFO,
			    "upload of %s not published: the home would end "
			    "over quota with what the name holds now (%llu "
			    "bytes)",
			    up->leaf, (unsigned long long)up->replaced);
	} else if (strcmp(before, vpath) != 0) {
		slog(s, LOG_INFO,
		    "%s was published as %s (its folder was renamed during "
		    "the upload)",
		    before, vpath);
	}
	/* The stream's copies learn the upload's end before its job is
	 * recorded, so that the worker that takes the job finds them. Under
	 * another name (its folder was renamed) they are of no use: the
	 * rename's job, queued first, would carry them along there. */
	session_stream_end(
	    s, stream, rc == 0 && strcmp(before, vpath) == 0, up->offset + got);
	/* Record first, reply second: the mirror's queue holds the file
	 * before the client hears 226. */
	*queued = session_change_end(s, &tok, CHANGE_PUT, vpath, NULL, rc == 0,
	              up->offset + got) == 0;
	if (rc == 0)
		*r = XFER_OK;
	else
		*r = *err == EDQUOT ? XFER_QUOTA : XFER_DISK_ERR;
	return 0;
}

/* The end of the 226 of an upload whose change the mirror's queue could
 * not record (do_upload). */
static const char not_queued[] =
    "; not queued for mirroring yet (the queue cannot be written): it will "
    "be when it can, do not send it again";

/* What became of an unfinished upload's partial, for the log. */
static const char *
partial_fate(enum upload_kept k)
{
	switch (k) {
	case UPLOAD_KEPT:
		return "kept as partial for resume";
	case UPLOAD_CUT:
		return "kept as partial for resume, cut back to what the quota "
		       "holds beside the file it was to replace";
	case UPLOAD_REMOVED:
	case UPLOAD_LEFT: /* said by left_or() */
		break;
	}
	return "removed (the quota has no room for it beside the file it was "
	       "to replace, it was empty, or it was an APPE to a file, which "
	       "is left as it was)";
}

/* An upload stopped by the quota: its partial is removed. An APPE or a
 * replace works on a partial beside the file, which stays as it was when
 * the transfer hit the quota: the log said only "removed" and an admin
 * took the file for gone. At publishing (upload_commit's EDQUOT) that file
 * went away or shrank meanwhile. */
static const char *
quota_fate(const struct upload *up, int in_transfer)
{
	if (!up->credit_entries)
		return "removed (quota)";
	return in_transfer ? "removed (quota); the file it was to replace is "
	                     "left as it was" :
	                     "removed (quota): the file it was to replace "
	                     "went away or shrank meanwhile";
}

/* The log's fate of a partial that was to go: why as given, unless it
 * could not be removed (written into buf, len bytes). */
static const char *
left_or(enum upload_kept k, const struct upload *up, const char *why, char *buf,
    size_t len)
{
	if (k != UPLOAD_LEFT)
		return why;
	snprintf(buf, len,
	    "left in place: it could not be removed (%s), and still counts "
	    "in the quota",
	    strerror(up->unlink_err));
	return buf;
}

/*
 * Whether an unfinished upload's partial is worth keeping. Not an APPE
 * onto a published file: its partial is that file's copy and some of the
 * client's bytes, which nothing resumes. SIZE reports the file (what RETR
 * sends, RFC 3659), so a client resumes an APPE from there; and a partial
 * left beside the file is taken for an interrupted replace, which makes
 * every later APPE of the name refused (upload.c's resume rule). Removed,
 * the file is as it was and the next APPE starts from it. Nor, for a user
 * without the delete permission, a REST at the end + STOR: resuming a
 * partial beside a file is a replace, which that user may not do, so it
 * would stay for good and refuse every later APPE.
 */
static int
keeps_partial(
    enum upload_mode mode, const struct upload_home *h, const struct upload *up)
{
	return up->credit_entries == 0 || (mode != UP_APPE && h->may_replace);
}

/* An upload that ends without a published, queued file: counted, and
 * told to whoever embeds the server (upload_aborted). */
static void
upload_gone(struct session *s, const char *vpath, uint64_t got)
{
	const struct server_notice *n = &s->srv->notice;

	stats_add(s->srv->stats, STAT_UPLOADS_ABORTED, 1);
	if (n->upload_aborted != NULL)
		n->upload_aborted(
		    n->ctx, s->user.name, s->user.home, vpath, got, s->peer_ip);
}

static void
do_upload(struct session *s, const char *arg, enum upload_mode mode)
{
	char vpath[RFTP_PATH_MAX], fate[160];
	struct upload_home h;
	struct upload up;
	struct timespec t0;
	uint64_t rest = s->rest, got = 0, allo = s->allo;
	enum upload_err e;
	enum xfer_result r;
	int queued = 1, declared = s->have_allo, in_transfer;
	int err = 0, home_moved = 0;
	struct dconn dc;
	enum dc_err no_data;
	void *stream;

	s->rest = 0;
	s->have_allo = 0; /* ALLO is for the next upload, tried or not */
	if (cmd_new_path(
	        s, mode == UP_STOU && arg[0] == '\0' ? "stou" : arg, vpath) < 0)
		return;
	if (need_data_setup(s))
		return;
	session_upload_home(s, &h);
	e = upload_begin(&h, vpath, mode, rest, &up);
	if (e != UPLOAD_OK) {
		refuse_upload(s, vpath, &up, e, rest);
		return;
	}
	if (up.dropped > 0)
		slog(s, LOG_INFO,
		    "dropped the interrupted upload of %llu bytes beside %s: "
		    "only a replace could publish it, which needs the delete "
		    "permission",
		    (unsigned long long)up.dropped, vpath);
	if (mode == UP_STOU) {
		/* The pathname (RFC 1123 4.1.2.9), from the current folder
		 * when the file is under it: "sub/x" made "sub/x.1a2b3c4d",
		 * whose leaf alone the client looked for in its current
		 * folder. Built from where the file is, not from the
		 * argument: "sub/" makes "sub.1a2b3c4d" here, not in sub. */
		size_t cl = strlen(s->cwd);
		const char *shown = vpath;

		if (strcmp(s->cwd, "/") == 0)
			shown = vpath + 1;
		else if (strncmp(vpath, s->cwd, cl) == 0 && vpath[cl] == '/')
			shown = vpath + cl + 1;
		reply(s, 150, "FILE: %s", shown);
	} else
		reply(s, 150, "Ok to send data%s.",
		    up.offset ? " (resuming)" : "");
	if (try_data(s, &dc, 0, &no_data) < 0) {
		/* Nothing arrived: an empty partial we made is not kept, nor
		 * an APPE's copy of the file. Gone before the reply: a client
		 * that reads the 425 and asks its quota, or tries again, found
		 * the copy still there (found by CI, under ASan). */
		enum upload_kept k = upload_abandon(
		    &h, &up, up.offset > 0 && keeps_partial(mode, &h, &up));

		data_refused(s, &dc, no_data);
		if (up.offset > 0)
			slog(s, LOG_INFO,
			    "upload of %s not started (no data connection); "
			    "%s",
			    vpath,
			    left_or(
			        k, &up, partial_fate(k), fate, sizeof(fate)));
		upload_gone(s, vpath, 0);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Only an upload from byte 0: what a stream reads of the partial as
	 * it grows is then exactly what the file will hold. */
	stream = mode != UP_APPE && up.offset == 0 ?
	    session_stream_begin(s, vpath, up.lock_fd >= 0 ? up.lock_fd : up.fd,
	        declared ? allo : 0) :
	    NULL;
	/* A declared size speaks for the whole file only from byte 0 in
	 * binary: a resume's count could mean the file or the rest of it,
	 * and TYPE A changes the count on the way. Under TLS close_notify
	 * decides, not the watch. */
	declared = declared && mode != UP_APPE && up.offset == 0 && !s->ascii &&
	    dc.ssl == NULL;
	s->xfer_stream = stream;
	r = xfer_recv_file(s, &dc, up.fd, s->account, up.credit,
	    declared ? &allo : NULL, &got, &err);
	s->xfer_stream = NULL;
	in_transfer = r != XFER_OK; /* not at publishing, for the log */
	/* Complete on the client's word (finwatch.c), for the log. */
	declared = declared && got == allo;
	dc_close(s, &dc, r == XFER_OK);
	s->bytes_in += got;
	stats_add(s->srv->stats, STAT_UPLOAD_BYTES, got);
	/* The home's folder changed under the upload (a file system
	 * mounted on it or unmounted, cmdtable.c): published, the file
	 * would be in a folder no one, nor the mirror, sees, after a 226.
	 * The session's next command ends it. */
	if (r == XFER_OK && fs_root_moved(s->root_fd, s->user.home) == 1) {
		home_moved = 1;
		r = XFER_DISK_ERR;
		err = ESTALE;
	}
	if (r != XFER_OK)
		session_stream_end(s, stream, 0, got);
	if (r == XFER_OK &&
	    publish_upload(
	        s, &h, &up, mode, vpath, got, stream, &r, &queued, &err) < 0) {
		upload_abandon(&h, &up, keeps_partial(mode, &h, &up));
		upload_gone(s, vpath, got);
		return; /* 451 sent; the bytes stay for a resume */
	}
	xferlog_write(s->srv->xferlog, s->peer_ip, s->user.name, vpath, got,
	    seconds_since(&t0), s->ascii, 'i', r == XFER_OK ? 'c' : 'i');
	if (r != XFER_OK) {
		/* Keep what arrived for a resume, except over quota; an
		 * empty partial is no use to anyone. */
		int isdir = r == XFER_DISK_ERR && err == EISDIR;
		int taken = r == XFER_DISK_ERR && err == EEXIST;
		int moved = home_moved;
		/* The account the admin took out has no resume to come,
		 * and kept, its bytes (sent after the removal, up to the
		 * second before the transfer saw it) could still be
		 * published by a resume of another user of the home. */
		int gone = r == XFER_USER_GONE;
		/* A disk's own error is said (a full disk was told as a
		 * quota's, found from outside), and so is a connection's;
		 * the fate below says the rest. */
		const char *why = r == XFER_QUOTA || isdir || taken || moved ?
		    NULL :
		    xfer_failure_why(r, err);
		enum upload_kept k = gone ?
		    upload_abandon_own(&h, &up) :
		    upload_abandon(&h, &up,
		        r != XFER_QUOTA && !isdir && !taken && !moved &&
		            !up.unsynced && up.offset + got > 0 &&
		            keeps_partial(mode, &h, &up));

		slog(s, LOG_INFO,
		    "upload of %s not complete after %llu bytes%s%s%s; "
		    "%s",
		    vpath, (unsigned long long)got, why != NULL ? " (" : "",
		    why != NULL ? why : "", why != NULL ? ")" : "",
		    left_or(k, &up,
		        r == XFER_QUOTA ?
		            quota_fate(&up, in_transfer) :
		            isdir ?
		            "removed (the name is a folder now)" :
		            taken ?
		            "removed (the file changed, or another took "
		            "its name, during the upload, and replacing that "
		            "needs the delete permission)" :
		            moved ?
		            "removed (the home's folder changed during the "
		            "upload: a file system mounted or unmounted there)" :
		            gone && k == UPLOAD_REMOVED ?
		            "removed (no resume of a removed user is to come)" :
		            gone ?
		            "cut back to where this upload resumed it (no "
		            "resume of a removed user is to come; the bytes "
		            "before were there already)" :
		            up.unsynced ?
		            "removed (it could not be synced to disk: its "
		            "bytes are not sure to be there, and a resume "
		            "would build on them)" :
		            partial_fate(k),
		        fate, sizeof(fate)));
		upload_gone(s, vpath, got);
		if (moved)
			reply(s, 451,
			    "Your home folder changed during the upload; the "
			    "file was not stored. Log in again and send it "
			    "again.");
		else
			reply_xfer_failure(s, r, err);
		return;
	}
	s->files_in++;
	slog(s, LOG_INFO, "received %s (%llu bytes, %llu total%s)", vpath,
	    (unsigned long long)got, (unsigned long long)(up.offset + got),
	    declared ? ", as ALLO declared" : "");
	/* Queued (above) before the 226, as the file is, unless the queue
	 * could not be written (its disk full): then the bytes are where
	 * the client asked, the mirror walks the home again until they are
	 * queued (mirror.c lost_change), and the 226 says so. A 451 asking
	 * for the bytes again made an APPE append twice, a STOU store a
	 * second file (found from outside), and a STOR of a user without
	 * delete fail on the file it had stored (found by a review). */
	stats_add(s->srv->stats, STAT_UPLOADS_COMPLETED, 1);
	stats_received(s->srv->stats, s->user.name, vpath, up.offset + got);
	if (mode == UP_STOU)
		reply(s, 226, "Transfer complete (unique file name: %s)%s.",
		    path_leaf(vpath), queued ? "" : not_queued);
	else
		reply(s, 226, "Transfer complete%s.", queued ? "" : not_queued);
}

HANDLER(cmd_stor)
{
	do_upload(s, arg, UP_STOR);
}

HANDLER(cmd_stou)
{
	do_upload(s, arg, UP_STOU);
}

HANDLER(cmd_appe)
{
	do_upload(s, arg, UP_APPE);
}

static void
do_listing(struct session *s, const char *arg, enum list_style style)
{
	char vpath[RFTP_PATH_MAX];
	struct listing l;
	struct xfer_stream x;
	struct dconn dc;
	enum xfer_result r;
	int err = 0;

	if (cmd_path(s, arg, vpath) < 0)
		return;
	if (listing_open(s, vpath, style, &l) < 0) {
		/* RFC 3659 7.2.1: MLSD of what is not a folder is a 501;
		 * a LIST or NLST of a path through a file is a 550, as in
		 * vsftpd and pure-ftpd (it said MLSD's 501). */
		if (errno == ENOTDIR && style == LIST_MLSD)
			/* No argument in the text: a 501 is logged
			 * (reply.c), and the argument is the client's. */
			reply(s, 501,
			    "Not a directory: MLSD lists folders, MLST "
			    "shows a file.");
		else
			reply_errno(s, 550, arg[0] ? arg : ".", errno);
		return;
	}
	/* NLST names a match of a pattern, and a file named by a path, with
	 * the folder part the client wrote ("sub/a.log"), as ls and vsftpd
	 * do: ftp's mget fetches what it is given from the current folder,
	 * and "mget sub/a.log" fetched the current folder's a.log. */
	if (style == LIST_NAMES && strrchr(arg, '/') != NULL &&
	    (l.pattern[0] != '\0' ||
	        (l.d == NULL &&
	            strcmp(strrchr(arg, '/') + 1, path_leaf(vpath)) == 0))) {
		l.prefix = arg;
		l.prefix_len = (size_t)(strrchr(arg, '/') - arg) + 1;
	}
	if (need_data_setup(s)) {
		listing_close(&l);
		return;
	}
	reply(s, 150, "Here comes the directory listing.");
	if (open_data(s, &dc, 1) < 0) {
		listing_close(&l);
		return;
	}
	/* Formatted while the client reads: memory stays one chunk. */
	xfer_stream_start(&x, s, &dc);
	if (listing_send(&l, xfer_stream_write, &x) < 0 &&
	    x.result == XFER_OK) {
		err = errno != 0 ? errno : EIO;
		x.result = XFER_DISK_ERR;
	}
	r = x.result;
	dc_close(s, &dc, r == XFER_OK);
	listing_close(&l);
	if (l.too_costly && r == XFER_DISK_ERR) {
		reply(s, 451,
		    "Pattern too costly to match in this folder; listing "
		    "stopped. Use fewer characters after a '*'.");
		return;
	}
	if (r != XFER_OK) {
		slog(s, LOG_INFO, "listing of %s stopped: %s", vpath,
		    xfer_failure_why(r, err));
		reply_xfer_failure(s, r, err);
		return;
	}
	reply(s, 226, "Directory send OK.");
}

HANDLER(cmd_list)
{
	do_listing(s, listing_skip_options(arg), LIST_LONG);
}

HANDLER(cmd_nlst)
{
	do_listing(s, listing_skip_options(arg), LIST_NAMES);
}

HANDLER(cmd_mlsd)
{
	do_listing(s, arg, LIST_MLSD);
}

HANDLER(cmd_mlst)
{
	char vpath[RFTP_PATH_MAX];
	struct stat st;
	struct buf facts;

	if (cmd_path(s, arg, vpath) < 0)
		return;
	if (fs_stat(s->root_fd, vpath, &st) < 0) {
		reply_errno(s, 550, arg[0] ? arg : ".", errno);
		return;
	}
	buf_init(&facts, 1024);
	/* The type MLSD gives the same entry (RFC 3659 7.5.1). */
	listing_facts(s, &st,
	    S_ISDIR(st.st_mode)     ? "dir" :
	        S_ISREG(st.st_mode) ? "file" :
	                              "OS.unix=special",
	    &facts);
	/* RFC 3659 7.2: one fact line, starting with a space. */
	reply_start(s, 250, "Listing %s", vpath);
	reply_line(s, " %s %s", buf_str(&facts), vpath);
	reply(s, 250, "End");
	buf_free(&facts);
}
