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
};

/* The command line (CRLF counted) that a QUOTE command cmd sends: a
 * leading '*' is libcurl's "a failure here fails nothing", never sent. */
size_t linelore_quote_line(const char *cmd);

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
 * EPSV's, and a line sent before would have ended the request). Returns
 * what it found.
 */
struct line_heard linelore_heard(
    struct line_lore *l, size_t req_line, const char *replies, size_t answered);

/* Whether l says a line of line bytes is too long for the target: one as
 * long or shorter was answered 500, and none as long answered otherwise. */
int linelore_refuses(const struct line_lore *l, size_t line);

/*
 * Whether a request whose longest line req_line was answered 500 (its
 * last reply's code is last), again (struct line_heard), names a path too
 * long for the target: no retry sends another line. One 500 alone decides
 * nothing: a server may answer 500 for a moment.
 */
int linelore_too_long(
    const struct line_lore *l, size_t req_line, int again, int last);

#endif
