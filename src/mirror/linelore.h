/*
 * linelore.h - how long a command line an FTP target reads, as its
 * answers tell it.
 *
 * Owns: the rules that turn one request's longest command line and its
 * replies into what the target's lore keeps (the longest line it answered,
 * the shortest it answered 500), and the questions asked of that lore (is
 * a line of this length one it refuses; is this 500 a path too long for
 * it). Servers read lines up to a length of their own (pyftpdlib 2,048
 * bytes, vsftpd about 4 KiB, some embedded servers 512) and answer a
 * longer one 500 (RFC 959 4.2: "syntax error, command unrecognized").
 * Pure functions, no I/O, no locking: the libcurl transport
 * (transport_curl.c) calls them under its lore's lock and acts on them
 * (ends a connection, parks a job).
 */
#ifndef RFTP_LINELORE_H
#define RFTP_LINELORE_H

#include <stddef.h>

/* A command line from this length on counts (CRLF included): a 500 to a
 * shorter one is no server's line limit but a command it lacks (EPSV on
 * an older server, which libcurl then asks as PASV). */
#define LINELORE_MIN 512

/* What a target's transports learnt, shared by them; 0: none yet. */
struct line_lore {
	size_t ok;      /* the longest line it answered other than 500 */
	size_t refused; /* the shortest line it answered 500 */
	/* The shortest line of a command the target may lack answered 500
	 * (linelore_may_lack): as likely the command's own 500 as its
	 * length's, so it counts for MLSD's line alone (linelore_may_refuse).
	 * vsftpd's "500 Unknown command." to a long "MLSD /abs/dir" as a
	 * daemon's first long line made every push of a path as long walk,
	 * one CWD a folder, for as long as it ran where no long line was
	 * answered after it (verify = none). */
	size_t maybe;
};

/* What one request told (linelore_heard). */
struct line_heard {
	/* A 500 that may answer the request's long line: its connection is
	 * not to be used again (pyftpdlib answers an over-long line twice,
	 * and the second 500, left unread, is the answer the next command
	 * reads). */
	int refused;
	/* ... where a line as long or shorter was answered 500 before. */
	int again;
	/* ... where no line as long was ever answered otherwise: it may be
	 * the line's length that was refused, not the command. */
	int may_be_long;
};

/*
 * The command lines of one request and the first reply line to each, as
 * libcurl reports them (its debug callback: each command as sent, each
 * reply line as read): the longest line the target answered with another
 * code than 500, so read whole. Only a line that went counts: a request's
 * longest line counted where the request was refused before it (an RNFR
 * answered 550 before a longer RNTO) made a line the target refuses look
 * taken, and a path that long was retried for ever, never parked.
 */
struct line_trace {
	size_t sent;     /* the last line sent, not yet answered; 0 none */
	int ended;       /* its line end went */
	size_t answered; /* the longest answered otherwise than 500 */
	char verb[8];    /* the last line's command, as far as it went */
	size_t verb_len;
	/* A line of LINELORE_MIN bytes or more answered 500: of a command
	 * every server has (base), of one the target may lack (lacks). */
	int refused_base, refused_lacks;
};

/* The command line (CRLF counted) that a QUOTE command cmd sends: a
 * leading '*' is libcurl's "a failure here fails nothing", never sent. */
size_t linelore_quote_line(const char *cmd);

/* Whether a command (verb: n bytes, no argument) is one the target may
 * lack, so that a 500 to it may be its own, whatever the line's length:
 * any but RFC 959's (SITE's are each the server's own) and SIZE, which
 * servers that have none answer 550 (vsftpd) or 502. */
int linelore_may_lack(const char *verb, size_t n);

/* Starts t for a request: nothing sent, nothing answered. */
void linelore_trace_start(struct line_trace *t);
/* n bytes of a command line sent (a line may come in pieces). */
void linelore_trace_sent(struct line_trace *t, const char *data, size_t n);
/* One reply line read ("NNN text" or "NNN-text"; other lines of a
 * multi-line reply are skipped): the answer to the line sent, if any. */
void linelore_trace_reply(struct line_trace *t, const char *line, size_t n);

/*
 * Learns from one request into l. req_line: the longest command line the
 * request was to send that names a path whole (0 if none); replies: its
 * control replies, in order, CRLF-ended lines; answered: the longest line
 * the target answered with another code than 500 (line_trace), 0 if none.
 * A 500 counts only after the last 227 (PASV's: a 500 before it was
 * EPSV's, and a line sent before would have ended the request). lacks:
 * the long line answered 500 was only ever of a command the target may
 * lack (line_trace): learnt as l->maybe, not l->refused, and never
 * again. Returns what it found.
 */
struct line_heard linelore_heard(struct line_lore *l, size_t req_line,
    const char *replies, size_t answered, int lacks);

/* Whether l says a line of line bytes is too long for the target: one as
 * long or shorter was answered 500, and none as long answered otherwise. */
int linelore_refuses(const struct line_lore *l, size_t line);

/* linelore_refuses, where l->maybe counts too: for a line of a command
 * the target may lack (MLSD), which walks instead where that line might
 * be too long (a walk costs CWDs, a 500 a connection). */
int linelore_may_refuse(const struct line_lore *l, size_t line);

/* Whether a line of line bytes is longer than any the target answered
 * where it has refused one for its length (l->refused): known too long
 * (linelore_refuses), or between the two, where only sending it tells.
 * For a removal, deepest folder first, each line shorter than the last
 * refused and most still past the target's: each sent cost a 500. */
int linelore_unsure(const struct line_lore *l, size_t line);

/*
 * Whether a request whose longest line req_line was answered 500 (its
 * last reply's code is last), again (struct line_heard), names a path too
 * long for the target: no retry sends another line. One 500 alone decides
 * nothing: a server may answer 500 for a moment.
 */
int linelore_too_long(
    const struct line_lore *l, size_t req_line, int again, int last);

#endif
