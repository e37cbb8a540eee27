/*
 * cmdtable.h - the command table and the dispatcher.
 *
 * Owns: which verbs exist, which need a login, an argument or a permission,
 * and the FEAT and HELP replies, all generated from one table so they never
 * disagree with what the server does.
 */
#ifndef RFTP_CMDTABLE_H
#define RFTP_CMDTABLE_H

#include "common/buf.h"

struct session;

enum cmd_flag {
	CMD_LOGIN = 1 << 0, /* only after a successful login */
	CMD_ARG = 1 << 1,   /* an argument is required */
	/* replies once, last, and never waits for the client: when the
	 * client pipelined more commands, the reply may wait in the socket
	 * for the next one's (reply.c) */
	CMD_QUICK = 1 << 2,
	/* may come between ALLO and the upload it declares (RFC 959: ALLO
	 * "shall be followed by a STORe or APPEnd"): any other command ends
	 * the declaration, refused or not */
	CMD_KEEPS_ALLO = 1 << 3,
	/* reads or changes the home with no permission of the table (the
	 * handler checks its own: SITE CHMOD, STAT, CWD): like a
	 * command with one, it first checks that users.ini still has the
	 * session's user as it was */
	CMD_FILES = 1 << 4,
	/* may come between REST and the transfer it restarts (RFC 959:
	 * REST "shall be followed immediately by the FTP service command
	 * which shall cause file transfer to resume"): the data connection's
	 * setup and the transfers themselves. Any other command ends the
	 * offset, refused or not: it once outlived a CWD, a LIST or a
	 * refused STOR, and a later upload of another file was written
	 * from that offset over the old bytes (found from outside) */
	CMD_KEEPS_REST = 1 << 5,
};

struct command {
	const char *verb;
	void (*fn)(struct session *s, const char *arg);
	unsigned flags;
	unsigned perm;    /* enum perm bits needed, 0 = none */
	const char *feat; /* FEAT line, or NULL */
	void (*feat_fn)(struct session *s, struct buf *line); /* dynamic */
	const char *help;
};

/* Runs one command line (already split). Replies on every path. */
void cmd_dispatch(struct session *s, const char *verb, const char *arg);
/*
 * Whether a line of verb may be traced whole at debug level: a known
 * command that carries no secret (PASS and ACCT do). The others are
 * traced as their verb as cmd_verb_shown shows it, the argument masked.
 */
int cmd_trace_whole(const char *verb);
/*
 * verb as the log and a refusal may show it, or NULL: a line a client
 * mistyped may be a password ("PAS <password>", the password alone after
 * USER), so an unknown verb is shown only when it has at most 4 letters
 * and the session is not waiting for a password.
 */
const char *cmd_verb_shown(const struct session *s, const char *verb);
/* FEAT reply (RFC 2389) and HELP listing from the table. */
void cmd_reply_feat(struct session *s);
void cmd_reply_help(struct session *s, const char *arg);

#endif
