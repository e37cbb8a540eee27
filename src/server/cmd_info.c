/*
 * cmd_info.c - session settings and information: NOOP SYST FEAT HELP OPTS
 * STAT TYPE MODE STRU ALLO CLNT, and SITE with its own small table of
 * subcommands (CHMOD here, UTIME in cmd_fs.c). FEAT and HELP come from the command table
 * (cmdtable.c); the two FEAT lines that depend on session state (HASH's
 * selected algorithm, MLST's enabled facts) are written here.
 */
#include "common/stats.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/numparse.h"
#include "common/users.h"
#include "server/cmd_handlers.h"
#include "server/cmdtable.h"
#include "common/fsgate.h"
#include "server/listing.h"
#include "server/quota.h"
#include "server/server.h"
#include "server/session.h"
#include "server/reply.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

static const struct {
	const char *name;
	unsigned bit;
} fact_names[] = {
	{ "type", FACT_TYPE },
	{ "size", FACT_SIZE },
	{ "modify", FACT_MODIFY },
	{ "perm", FACT_PERM },
	{ "unique", FACT_UNIQUE },
};
#define NFACTS (sizeof(fact_names) / sizeof(fact_names[0]))

void
feat_hash(struct session *s, struct buf *line)
{
	buf_adds(line, "HASH ");
	for (int i = 0; i < HASH_ALGO_COUNT; i++)
		buf_printf(line, "%s%s%s", i ? ";" : "",
		    hash_name((enum hash_algo)i),
		    (enum hash_algo)i == s->hash_algo ? "*" : "");
}

void
feat_mlst(struct session *s, struct buf *line)
{
	buf_adds(line, "MLST ");
	for (size_t i = 0; i < NFACTS; i++)
		buf_printf(line, "%s%s;", fact_names[i].name,
		    (s->mlst_facts & fact_names[i].bit) ? "*" : "");
}

HANDLER(cmd_noop)
{
	(void)arg;
	reply(s, 200, "NOOP ok.");
}

HANDLER(cmd_syst)
{
	(void)arg;
	reply(s, 215, "UNIX Type: L8");
}

HANDLER(cmd_feat)
{
	/* RFC 2389 3.2: "feat = "Feat" CRLF", no argument. */
	if (arg[0] != '\0') {
		reply(s, 501, "FEAT takes no argument.");
		return;
	}
	cmd_reply_feat(s);
}

/* RFC 959 4.2: 202 "Command not implemented, superfluous at this site":
 * no account is ever asked for (no 332), so ACCT changes nothing. */
HANDLER(cmd_acct)
{
	(void)arg;
	reply(s, 202, "ACCT not needed here.");
}

/* Mounting another file system inside a confined home is never offered. */
HANDLER(cmd_smnt)
{
	(void)arg;
	reply(s, 502, "SMNT not implemented.");
}

HANDLER(cmd_help)
{
	cmd_reply_help(s, arg);
}

static void
opts_mlst(struct session *s, const char *facts)
{
	char item[32];
	unsigned mask = 0;
	struct buf echo;

	/* RFC 3659 7.9: unknown facts are ignored; the reply lists those
	 * now enabled. */
	while (*facts == ' ')
		facts++;
	while (*facts != '\0') {
		const char *semi = strchr(facts, ';');
		size_t n = semi ? (size_t)(semi - facts) : strlen(facts);

		if (n < sizeof(item)) {
			memcpy(item, facts, n);
			item[n] = '\0';
			for (size_t i = 0; i < NFACTS; i++)
				if (strcasecmp(item, fact_names[i].name) == 0)
					mask |= fact_names[i].bit;
		}
		facts += n + (semi != NULL);
	}
	s->mlst_facts = mask;
	buf_init(&echo, 256);
	for (size_t i = 0; i < NFACTS; i++)
		if (mask & fact_names[i].bit)
			buf_printf(&echo, "%s;", fact_names[i].name);
	reply(s, 200, "MLST OPTS %s", buf_str(&echo));
	buf_free(&echo);
}

HANDLER(cmd_opts)
{
	const char *sp = strchr(arg, ' ');
	const char *rest = sp ? sp + 1 : "";
	size_t n = sp ? (size_t)(sp - arg) : strlen(arg);

	if (n == 4 && strncasecmp(arg, "UTF8", 4) == 0) {
		/* Paths are bytes to us; UTF-8 passes through unchanged. */
		reply(s, 200, "UTF8 mode is always on.");
	} else if (n == 4 && strncasecmp(arg, "MLST", 4) == 0) {
		opts_mlst(s, rest);
	} else if (n == 4 && strncasecmp(arg, "HASH", 4) == 0) {
		enum hash_algo a;

		if (rest[0] == '\0') {
			reply(s, 200, "%s", hash_name(s->hash_algo));
		} else if (hash_lookup(rest, &a) < 0) {
			reply(s, 501,
			    "Unknown algorithm; use SHA-256, SHA-1, "
			    "MD5 or CRC32.");
		} else {
			s->hash_algo = a;
			reply(s, 200, "%s", hash_name(a));
		}
	} else {
		reply(s, 501, "Unknown option.");
	}
}

static void
stat_server(struct session *s)
{
	reply_start(s, 211, "relayftpd status:");
	reply_line(s, " Connected to %s", s->peer_ip);
	if (s->state == SESS_LOGGED_IN) {
		reply_line(s, " Logged in as %s", s->user.name);
		if (s->account != NULL) {
			uint64_t b, f;

			account_usage(s->account, &b, &f);
			if (s->user.quota_bytes || s->user.quota_files)
				reply_line(s,
				    " Quota: %llu of %llu bytes, "
				    "%llu of %llu files and folders (0 = "
				    "unlimited)",
				    (unsigned long long)b,
				    (unsigned long long)s->user.quota_bytes,
				    (unsigned long long)f,
				    (unsigned long long)s->user.quota_files);
		}
	} else {
		reply_line(s, " Not logged in");
	}
	reply_line(s, " TYPE: %s, MODE: Stream, STRU: File",
	    s->ascii ? "ASCII" : "BINARY");
	reply_line(s, " Data connection: %s",
	    s->dc_mode == DC_PASSIVE    ? "passive, waiting" :
	        s->dc_mode == DC_ACTIVE ? "active, set" :
	                                  "none");
	reply_line(s,
	    " %llu files (%llu bytes) in, %llu files (%llu bytes) "
	    "out",
	    (unsigned long long)s->files_in, (unsigned long long)s->bytes_in,
	    (unsigned long long)s->files_out, (unsigned long long)s->bytes_out);
	reply(s, 211, "End of status");
}

/* STAT <path> sends its listing over the control connection. */
static int
ctrl_sink(void *ctx, const char *p, size_t n)
{
	return session_write(ctx, p, n);
}

HANDLER(cmd_stat)
{
	char vpath[RFTP_PATH_MAX];
	struct listing l;
	int rc, err;

	if (arg[0] == '\0') {
		stat_server(s);
		return;
	}
	if (s->state != SESS_LOGGED_IN) {
		session_bad_command(s, "command before login", "STAT", "");
		reply(s, 530, "Please log in with USER and PASS.");
		return;
	}
	if (!(s->user.perms & PERM_READ)) {
		session_log_capped(s, &s->perm_refused, LOG_INFO,
		    "permission refusals", "STAT refused: permission");
		reply(s, 550, "Permission denied.");
		return;
	}
	arg = listing_skip_options(arg);
	if (cmd_path(s, arg, vpath) < 0)
		return;
	if (listing_open(s, vpath, LIST_LONG, &l) < 0) {
		reply_errno(s, 550, arg[0] ? arg : ".", errno);
		return;
	}
	/* RFC 959 STAT: the listing comes over the control connection, as
	 * the body of a multi-line reply; every line starts with a mode
	 * string, never with "ddd ", and a name holding CR or LF is never
	 * sent (listing.h). */
	reply_start(s, 213, "Status of %s:", vpath);
	rc = listing_send(&l, ctrl_sink, s);
	err = errno;
	listing_close(&l);
	/* Inside the multi-line reply only its last line can say the
	 * listing is not whole, and it must keep the code 213. */
	if (l.too_costly)
		reply(s, 213,
		    "End of status (listing stopped: pattern too costly to "
		    "match in this folder; use fewer characters after a "
		    "'*')");
	else if (rc < 0)
		reply(s, 213, "End of status (listing cut: %s)",
		    strerror(err != 0 ? err : EIO));
	else
		reply(s, 213, "End of status");
}

HANDLER(cmd_type)
{
	if (strcasecmp(arg, "I") == 0 || strcasecmp(arg, "L 8") == 0) {
		s->ascii = 0;
		reply(s, 200, "Switching to Binary mode.");
	} else if (strcasecmp(arg, "A") == 0 || strcasecmp(arg, "A N") == 0) {
		s->ascii = 1;
		reply(s, 200, "Switching to ASCII mode.");
	} else {
		session_bad_command(s, "argument", "TYPE", "not A or I");
		reply(s, 504, "TYPE %s not supported; use A or I.", arg);
	}
}

HANDLER(cmd_mode)
{
	if (strcasecmp(arg, "S") == 0)
		reply(s, 200, "Mode set to S.");
	else {
		session_bad_command(s, "argument", "MODE", "not S");
		reply(s, 504, "Only stream mode (S) is supported.");
	}
}

HANDLER(cmd_stru)
{
	if (strcasecmp(arg, "F") == 0)
		reply(s, 200, "Structure set to F.");
	else {
		session_bad_command(s, "argument", "STRU", "not F");
		reply(s, 504, "Only file structure (F) is supported.");
	}
}

/* After ALLO's count: nothing, or " R <decimal record size>". */
static int
allo_tail_ok(const char *t)
{
	if (t[0] == '\0')
		return 1;
	if (strncasecmp(t, " R ", 3) != 0 || t[3] == '\0')
		return 0;
	return strspn(t + 3, "0123456789") == strlen(t + 3);
}

HANDLER(cmd_allo)
{
	char num[32];
	size_t n = strcspn(arg, " ");
	uint64_t want;
	struct statvfs fs;

	/* RFC 959: "ALLO <decimal-integer> [R <decimal-integer>]". No
	 * storage needs reserving here, but the count is worth two things:
	 * a size that cannot fit the quota is refused before the bytes are
	 * sent, and the next upload from byte 0 that ends after exactly that
	 * many bytes needs no watch of the control connection (finwatch.c):
	 * a client killed mid-upload cannot have sent all it declared. */
	s->have_allo = 0;
	if (arg[0] == '\0') {
		reply(s, 202, "No storage allocation necessary.");
		return;
	}
	/* A count we cannot read (or past 2^64), or anything after it but
	 * "R <record size>", is a syntax error, not a size that would skip
	 * the quota check. */
	if (n == 0 || n >= sizeof(num) || !allo_tail_ok(arg + n)) {
		reply(s, 501, "Syntax: ALLO <bytes> [R <bytes>].");
		return;
	}
	memcpy(num, arg, n);
	num[n] = '\0';
	if (parse_u64(num, UINT64_MAX, &want) < 0) {
		reply(s, 501, "Syntax: ALLO <bytes> [R <bytes>].");
		return;
	}
	/* Only a size past the whole quota is sure never to fit: the upload
	 * that follows may replace a file, and then needs room only for the
	 * difference (its own reservations decide, as without ALLO). */
	if (s->account != NULL && s->user.quota_bytes != 0 &&
	    !quota_fits(0, want, s->user.quota_bytes)) {
		stats_add(s->srv->stats, STAT_QUOTA_REFUSED, 1);
		/* Logged as every other quota stop is: the admin a user
		 * asks about the 552 finds the reason here. */
		session_log_capped(s, &s->quota_refused, LOG_INFO,
		    "quota refusals",
		    "ALLO %llu refused: over %s's quota_bytes of %llu",
		    (unsigned long long)want, s->user.name,
		    (unsigned long long)s->user.quota_bytes);
		reply(s, 552, "Not enough quota for %llu bytes.",
		    (unsigned long long)want);
		return;
	}
	/* Nor can a size the home's file system has no room for: the
	 * partial is written beside any file it replaces, so it needs all
	 * of it (pure-ftpd answers 552 here too). Only a space we could
	 * measure refuses: an unknown one (no statvfs, or a file system
	 * that reports no blocks, as some FUSE ones do) is left to the
	 * upload. */
	if (fstatvfs(s->root_fd, &fs) == 0 && fs.f_blocks != 0 &&
	    want > (uint64_t)fs.f_bavail * fs.f_frsize) {
		session_log_capped(s, &s->quota_refused, LOG_INFO,
		    "quota refusals",
		    "ALLO %llu refused: the home's file system has %llu bytes "
		    "free",
		    (unsigned long long)want,
		    (unsigned long long)fs.f_bavail * fs.f_frsize);
		reply(s, 552, "Not enough disk space for %llu bytes.",
		    (unsigned long long)want);
		return;
	}
	s->allo = want;
	s->have_allo = 1;
	reply(s, 200, "ALLO %llu bytes noted for the next upload.",
	    (unsigned long long)want);
}

/* Whether vpath is the home folder itself (stat follows links inside). */
static int
is_home(struct session *s, const char *vpath)
{
	struct stat home, st;

	if (strcmp(vpath, "/") == 0)
		return 1;
	return fstat(s->root_fd, &home) == 0 &&
	    fs_stat(s->root_fd, vpath, &st) == 0 && st.st_dev == home.st_dev &&
	    st.st_ino == home.st_ino;
}

/* SITE CHMOD <octal mode> <path>. */
static void
site_chmod(struct session *s, const char *arg)
{
	char mode_s[8], vpath[RFTP_PATH_MAX];
	size_t n = strcspn(arg, " ");
	unsigned mode = 0;

	if (n == 0 || n >= sizeof(mode_s) || arg[n] != ' ' ||
	    arg[n + 1] == '\0') {
		reply(s, 501, "Syntax: SITE CHMOD <octal mode> <path>.");
		return;
	}
	memcpy(mode_s, arg, n);
	mode_s[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (mode_s[i] < '0' || mode_s[i] > '7') {
			reply(s, 501, "Mode must be octal, 0 to 777.");
			return;
		}
		mode = mode * 8 + (unsigned)(mode_s[i] - '0');
	}
	if (mode > 0777) {
		/* setuid, setgid and sticky bits are not for FTP users. */
		reply(s, 501, "Mode must be octal, 0 to 777.");
		return;
	}
	if (cmd_path(s, arg + n + 1, vpath) < 0)
		return;
	/* The home itself is the admin's: "SITE CHMOD 777 /" made it
	 * world-writable on the host, past the 0750 a new home gets. By
	 * the file, not the name: a link the host made inside the home
	 * ("pub -> .") leads to it too. */
	if (is_home(s, vpath)) {
		session_log_capped(s, &s->perm_refused, LOG_INFO,
		    "permission refusals", "SITE CHMOD of the home refused");
		reply(s, 550, "The home folder's mode cannot be changed.");
		return;
	}
	if (fs_chmod(s->root_fd, vpath, (mode_t)mode) < 0) {
		reply_errno(s, 550, arg + n + 1, errno);
		return;
	}
	reply(s, 200, "SITE CHMOD command ok.");
}

static void site_help(struct session *s, const char *arg);

/* The SITE subcommands, checked like the main table: argument, then the
 * permission bits (enum perm) the user needs. */
static const struct {
	const char *name;
	void (*fn)(struct session *s, const char *arg);
	int need_arg;
	unsigned perm;
	const char *help;
} site_commands[] = {
	{ "CHMOD", site_chmod, 1, PERM_WRITE, "CHMOD <octal mode> <path>" },
	{ "UTIME", site_utime, 1, PERM_WRITE,
	    "UTIME YYYYMMDDhhmm[ss] <path> | UTIME <path> <atime> <mtime> "
	    "<ctime> UTC" },
	{ "HELP", site_help, 0, 0, "HELP" },
};
#define NSITE (sizeof(site_commands) / sizeof(site_commands[0]))

static void
site_help(struct session *s, const char *arg)
{
	(void)arg;
	reply_start(s, 214, "SITE commands:");
	for (size_t i = 0; i < NSITE; i++)
		reply_line(s, " %s", site_commands[i].help);
	reply(s, 214, "End of SITE HELP.");
}

HANDLER(cmd_site)
{
	size_t n = strcspn(arg, " ");
	const char *rest = arg[n] == ' ' ? arg + n + 1 : arg + n;

	for (size_t i = 0; i < NSITE; i++) {
		if (strlen(site_commands[i].name) != n ||
		    strncasecmp(arg, site_commands[i].name, n) != 0)
			continue;
		if (site_commands[i].need_arg && rest[0] == '\0') {
			reply(
			    s, 501, "Syntax: SITE %s.", site_commands[i].help);
			return;
		}
		if ((s->user.perms & site_commands[i].perm) !=
		    site_commands[i].perm) {
			session_log_capped(s, &s->perm_refused, LOG_INFO,
			    "permission refusals",
			    "SITE %s refused: permission",
			    site_commands[i].name);
			reply(s, 550, "Permission denied.");
			return;
		}
		site_commands[i].fn(s, rest);
		return;
	}
	reply(s, 500, "Unknown SITE command; try SITE HELP.");
}

/* CLNT <name> (sent by some clients, e.g. FileZilla in older versions): noted. */
HANDLER(cmd_clnt)
{
	slog(s, LOG_DEBUG, "client says it is %s", arg);
	reply(s, 200, "Noted.");
}
