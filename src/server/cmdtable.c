/*
 * cmdtable.c - the command table (OpenSMTPD's commands[] idea) and the one
 * place that checks login, argument and permission rules before a handler
 * runs. Reply codes for these checks follow RFC 959 5.4: 530 not logged in,
 * 501 syntax error in arguments, 500/502 unknown/unimplemented.
 */
#include "server/cmdtable.h"

#include "common/fsgate.h"
#include "common/log.h"
#include "common/users.h"
#include "server/cmd_handlers.h"
#include "server/session.h"
#include "server/reply.h"
#include "server/server.h"

#include <string.h>
#include <strings.h>

#define L CMD_LOGIN
#define A CMD_ARG
#define Q CMD_QUICK
#define K CMD_KEEPS_ALLO
#define F CMD_FILES
#define R CMD_KEEPS_REST

static const struct command commands[] = {
	/* access control (RFC 959 4.1.1) */
	{ "USER", cmd_user, A, 0, NULL, NULL, "USER <name>" },
	{ "PASS", cmd_pass, 0, 0, NULL, NULL, "PASS <password>" },
	{ "QUIT", cmd_quit, 0, 0, NULL, NULL, "QUIT" },
	{ "REIN", cmd_rein, 0, 0, NULL, NULL,
	    "REIN (log out, keep connection)" },
	/* RFC 959 commands known but not needed (202) or not offered (502):
	 * a 500 would tell a client they do not exist. */
	{ "ACCT", cmd_acct, 0, 0, NULL, NULL, "ACCT (not needed here)" },
	{ "SMNT", cmd_smnt, L, 0, NULL, NULL, "SMNT (not implemented)" },
	/* security (RFC 2228, RFC 4217) */
	{ "AUTH", cmd_auth, A, 0, NULL, feat_tls, "AUTH TLS" },
	{ "PBSZ", cmd_pbsz, A, 0, NULL, feat_pbsz, "PBSZ 0" },
	{ "PROT", cmd_prot, A, 0, NULL, feat_prot, "PROT P|C" },
	{ "CCC", cmd_ccc, 0, 0, NULL, NULL, "CCC (refused)" },
	{ "CWD", cmd_cwd, L | A | Q | F, 0, NULL, NULL, "CWD <dir>" },
	{ "XCWD", cmd_cwd, L | A | Q | F, 0, NULL, NULL, "XCWD <dir>" },
	{ "CDUP", cmd_cdup, L | Q | F, 0, NULL, NULL, "CDUP" },
	{ "XCUP", cmd_cdup, L | Q | F, 0, NULL, NULL, "XCUP" },
	/* transfer parameters (4.1.2, RFC 2428) */
	{ "PORT", cmd_port, L | A | K | R, 0, NULL, NULL,
	    "PORT h1,h2,h3,h4,p1,p2" },
	{ "EPRT", cmd_eprt, L | A | K | R, 0, "EPRT", NULL,
	    "EPRT |af|addr|port|" },
	{ "PASV", cmd_pasv, L | K | R, 0, NULL, NULL, "PASV" },
	{ "EPSV", cmd_epsv, L | K | R, 0, "EPSV", NULL, "EPSV [1|2|ALL]" },
	{ "TYPE", cmd_type, L | A | Q | K | R, 0, NULL, NULL, "TYPE A|I" },
	{ "MODE", cmd_mode, L | A | Q | K | R, 0, NULL, NULL, "MODE S" },
	{ "STRU", cmd_stru, L | A | Q | K | R, 0, NULL, NULL, "STRU F" },
	/* service commands (4.1.3) */
	{ "RETR", cmd_retr, L | A | R, PERM_READ, NULL, NULL, "RETR <file>" },
	{ "STOR", cmd_stor, L | A | K | R, PERM_WRITE, NULL, NULL,
	    "STOR <file>" },
	{ "STOU", cmd_stou, L | K | R, PERM_WRITE, NULL, NULL,
	    "STOU [<file>]" },
	{ "APPE", cmd_appe, L | A | K | R, PERM_APPEND, NULL, NULL,
	    "APPE <file>" },
	{ "ALLO", cmd_allo, L | Q | K | R, 0, NULL, NULL, "ALLO <bytes>" },
	{ "REST", cmd_rest, L | A | Q | K | R, 0, "REST STREAM", NULL,
	    "REST <offset>" },
	{ "RNFR", cmd_rnfr, L | A, PERM_RENAME, NULL, NULL, "RNFR <from>" },
	{ "RNTO", cmd_rnto, L | A, PERM_RENAME, NULL, NULL, "RNTO <to>" },
	{ "ABOR", cmd_abor, L, 0, NULL, NULL, "ABOR" },
	{ "DELE", cmd_dele, L | A, PERM_DELETE, NULL, NULL, "DELE <file>" },
	{ "RMD", cmd_rmd, L | A, PERM_RMDIR, NULL, NULL, "RMD <dir>" },
	{ "XRMD", cmd_rmd, L | A, PERM_RMDIR, NULL, NULL, "XRMD <dir>" },
	{ "MKD", cmd_mkd, L | A, PERM_MKDIR, NULL, NULL, "MKD <dir>" },
	{ "XMKD", cmd_mkd, L | A, PERM_MKDIR, NULL, NULL, "XMKD <dir>" },
	{ "PWD", cmd_pwd, L | Q, 0, NULL, NULL, "PWD" },
	{ "XPWD", cmd_pwd, L | Q, 0, NULL, NULL, "XPWD" },
	{ "LIST", cmd_list, L, PERM_READ, NULL, NULL, "LIST [<path>]" },
	{ "NLST", cmd_nlst, L, PERM_READ, NULL, NULL, "NLST [<path>]" },
	{ "SITE", cmd_site, L | A | F, 0, NULL, NULL,
	    "SITE CHMOD|UTIME|HELP ... (SITE HELP lists them)" },
	{ "SYST", cmd_syst, 0, 0, NULL, NULL, "SYST" },
	{ "STAT", cmd_stat, F, 0, NULL, NULL, "STAT [<path>]" },
	{ "HELP", cmd_help, 0, 0, NULL, NULL, "HELP [<command>]" },
	{ "NOOP", cmd_noop, Q, 0, NULL, NULL, "NOOP" },
	/* extensions: RFC 2389, RFC 3659, draft-bryan-ftpext-hash */
	{ "FEAT", cmd_feat, 0, 0, NULL, NULL, "FEAT" },
	{ "OPTS", cmd_opts, A, 0, "UTF8", NULL,
	    "OPTS UTF8 ON | MLST <facts> | HASH <algo>" },
	{ "SIZE", cmd_size, L | A, PERM_READ, "SIZE", NULL, "SIZE <file>" },
	{ "MDTM", cmd_mdtm, L | A, PERM_READ, "MDTM", NULL,
	    "MDTM [YYYYMMDDHHMMSS] <file>" },
	/* draft-somers-ftp-mfxx */
	{ "MFMT", cmd_mfmt, L | A, PERM_WRITE, "MFMT", NULL,
	    "MFMT YYYYMMDDHHMMSS[.sss] <file>" },
	{ "CLNT", cmd_clnt, Q, 0, NULL, NULL, "CLNT <client name>" },
	{ "MLSD", cmd_mlsd, L, PERM_READ, NULL, NULL, "MLSD [<dir>]" },
	{ "MLST", cmd_mlst, L, PERM_READ, NULL, feat_mlst, "MLST [<path>]" },
	{ "HASH", cmd_hash, L | A, PERM_READ, NULL, feat_hash, "HASH <file>" },
	{ "XMD5", cmd_xmd5, L | A, PERM_READ, "XMD5", NULL, "XMD5 <file>" },
	{ "XSHA1", cmd_xsha1, L | A, PERM_READ, "XSHA1", NULL, "XSHA1 <file>" },
	{ "XSHA256", cmd_xsha256, L | A, PERM_READ, "XSHA256", NULL,
	    "XSHA256 <file>" },
};

#undef L
#undef A
#undef Q
#undef K
#undef F
#undef R

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *
cmd_find(const char *verb)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].verb, verb) == 0)
			return &commands[i];
	return NULL;
}

int
cmd_trace_whole(const char *verb)
{
	const struct command *c = cmd_find(verb);

	return c != NULL && c->fn != cmd_pass && c->fn != cmd_acct;
}

const char *
cmd_verb_shown(const struct session *s, const char *verb)
{
	/* Every verb of ours and of RFC 959's successors but a few X ones
	 * has 3 or 4 letters; a password is longer, mostly. */
	if (cmd_find(verb) != NULL ||
	    (s->state != SESS_NEED_PASS && strlen(verb) <= 4))
		return verb;
	return NULL;
}

/*
 * Before a command on files: a user removed from users.ini, or whose home,
 * permissions, quotas or limits an edit changed, kept using open sessions
 * under the old rules until they ended (found by an outside battery). Such
 * a session ends here with 421, and a new login gets the new rules (its
 * quota counted anew). A stat and a lock per file command; a new password
 * alone leaves the session be, as SSH does.
 */
static int
user_still_valid(struct session *s)
{
	enum user_fresh v;

	if (!s->user_in_db)
		return 1;
	v = userdb_recheck(s->srv->users, &s->user, &s->user_gen);
	if (v == USER_SAME)
		return 1;
	slog(s, LOG_INFO, "%s in users.ini: session ended",
	    v == USER_GONE ? "user removed" : "user changed");
	reply(s, 421, "Your account was %s; log in again.",
	    v == USER_GONE ? "removed" : "changed");
	session_enter_state(s, SESS_CLOSING);
	return 0;
}

/*
 * Whether the home's path still leads to the folder the session opened at
 * login. A file system mounted on the home since (a late NFS or disk
 * mount, a bind mount swapped) or unmounted from it (umount -l), or the
 * folder renamed away or removed, left the session working in a folder
 * no one else sees: its uploads got 226, were never mirrored (the mirror
 * looks by the home's path), and went with a detached file system when
 * the session ended. It ends with 421 as for a changed account: the next
 * login opens the home as it is now.
 */
static int
home_still_there(struct session *s)
{
	if (fs_root_moved(s->root_fd, s->user.home) != 1)
		return 1;
	slog(s, LOG_WARN,
	    "home %s is another folder now (a file system mounted or "
	    "unmounted there, or the folder moved or removed): session ended",
	    s->user.home);
	reply(s, 421, "Your home folder changed; log in again.");
	session_enter_state(s, SESS_CLOSING);
	return 0;
}

/* A command refused here (login, argument, permission) ends what ALLO,
 * RNFR and REST set up for it: the transfer or rename they were for did
 * not happen, and a later one must not inherit them. */
static void
drop_pending(struct session *s)
{
	s->have_allo = 0;
	s->have_rnfr = 0;
	s->rest = 0;
}

static void
dispatch(struct session *s, const char *verb, const char *arg)
{
	const struct command *c = cmd_find(verb);

	/* Refused or not, a command that may not follow ALLO ends it; an
	 * upload refused here ends it too (only do_upload consumes it). */
	if (c == NULL || !(c->flags & CMD_KEEPS_ALLO))
		s->have_allo = 0;
	/* RFC 959 4.1.3: RNTO must come right after a RNFR that succeeded.
	 * Any other command ends the one pending, a RNFR that fails too:
	 * after RNFR a, RNFR gone (550), a RNTO renamed a. A RNTO refused
	 * here ends it as well; cmd_rnto uses it up. */
	if (c == NULL || c->fn != cmd_rnto)
		s->have_rnfr = 0;
	if (c == NULL || !(c->flags & CMD_KEEPS_REST))
		s->rest = 0;
	if (c == NULL) {
		const char *shown = cmd_verb_shown(s, verb);

		/* Not echoed either: the reply goes to the debug trace. */
		session_bad_command(s, "unknown command",
		    shown != NULL ? shown : "not shown (it may be a password)",
		    "");
		if (shown != NULL)
			reply(s, 500, "Unknown command %s.", shown);
		else
			reply(s, 500, "Unknown command.");
		return;
	}
	if ((c->flags & CMD_LOGIN) && s->state != SESS_LOGGED_IN) {
		drop_pending(s);
		session_bad_command(s, "command before login", verb, "");
		reply(s, 530, "Please log in with USER and PASS.");
		return;
	}
	if ((c->flags & CMD_ARG) && arg[0] == '\0') {
		drop_pending(s);
		reply(s, 501, "%s needs an argument.", verb);
		return;
	}
	/* Before a login no user is checked (STAT then tells the server's
	 * status only). */
	if ((c->perm != 0 || (c->flags & CMD_FILES)) &&
	    s->state == SESS_LOGGED_IN &&
	    (!user_still_valid(s) || !home_still_there(s)))
		return;
	if (c->perm != 0 && (s->user.perms & c->perm) != c->perm) {
		drop_pending(s);
		session_log_capped(s, &s->perm_refused, LOG_INFO,
		    "permission refusals", "%s refused: permission", verb);
		reply(s, 550, "Permission denied.");
		return;
	}
	/* A quick command's reply may ride with the next command's, when
	 * that one is already here (pipelined): one segment, one wake-up of
	 * the client instead of two. */
	s->cork = (c->flags & CMD_QUICK) && session_has_lines(s);
	c->fn(s, arg);
	s->cork = 0;
}

void
cmd_dispatch(struct session *s, const char *verb, const char *arg)
{
	s->cmd_verb = verb;
	s->cmd_arg = arg;
	dispatch(s, verb, arg);
	s->cmd_verb = NULL;
	s->cmd_arg = NULL;
}

void
cmd_reply_feat(struct session *s)
{
	struct buf line;

	buf_init(&line, 512);
	reply_start(s, 211, "Features:");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		buf_reset(&line);
		if (commands[i].feat_fn != NULL)
			commands[i].feat_fn(s, &line);
		else if (commands[i].feat != NULL)
			buf_adds(&line, commands[i].feat);
		if (line.len > 0)
			reply_line(s, " %s", buf_str(&line));
	}
	buf_free(&line);
	reply(s, 211, "End");
}

void
cmd_reply_help(struct session *s, const char *arg)
{
	struct buf line;

	if (arg[0] != '\0') {
		char verb[16];
		size_t n = strlen(arg);
		const struct command *c;

		if (n >= sizeof(verb))
			n = sizeof(verb) - 1;
		for (size_t i = 0; i < n; i++)
			verb[i] = (char)(arg[i] >= 'a' && arg[i] <= 'z' ?
			        arg[i] - 'a' + 'A' :
			        arg[i]);
		verb[n] = '\0';
		c = cmd_find(verb);
		if (c == NULL) {
			reply(s, 502, "Unknown command %s.", verb);
			return;
		}
		reply(s, 214, "Syntax: %s", c->help);
		return;
	}
	buf_init(&line, 128);
	reply_start(s, 214, "The following commands are recognized:");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		buf_printf(&line, " %-7s", commands[i].verb);
		if (i % 8 == 7 || i + 1 == NCOMMANDS) {
			reply_line(s, "%s", buf_str(&line));
			buf_reset(&line);
		}
	}
	buf_free(&line);
	reply(s, 214, "Help OK.");
}
