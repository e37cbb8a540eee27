/*
 * linelore.c - how long a command line an FTP target reads (linelore.h).
 *
 * Owns the rules only: what to learn from a request and what the learnt
 * lengths say. Must not do I/O or take locks; the caller holds its lore's.
 */
#include "mirror/linelore.h"
#include "mirror/ftpreply.h"

#include <string.h>
#include <strings.h>

size_t
linelore_quote_line(const char *cmd)
{
	return strlen(cmd) - (cmd[0] == '*') + 2;
}

int
linelore_may_lack(const char *verb, size_t n)
{
	/* RFC 959 4.1's commands but SITE, and SIZE (RFC 3659 4). */
	static const char *const base[] = { "ABOR", "ACCT", "ALLO", "APPE",
		"CDUP", "CWD", "DELE", "HELP", "LIST", "MKD", "MODE", "NLST",
		"NOOP", "PASS", "PASV", "PORT", "PWD", "QUIT", "REIN", "REST",
		"RETR", "RMD", "RNFR", "RNTO", "SIZE", "SMNT", "STAT", "STOR",
		"STOU", "STRU", "SYST", "TYPE", "USER" };

	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		if (strlen(base[i]) == n && strncasecmp(base[i], verb, n) == 0)
			return 0;
	return 1;
}

void
linelore_trace_start(struct line_trace *t)
{
	t->sent = 0;
	t->ended = 0;
	t->answered = 0;
	t->verb_len = 0;
	t->refused_base = 0;
	t->refused_lacks = 0;
}

void
linelore_trace_sent(struct line_trace *t, const char *data, size_t n)
{
	/* A line after one that ended unanswered starts afresh. */
	if (t->ended) {
		t->sent = 0;
		t->ended = 0;
	}
	if (t->sent == 0)
		t->verb_len = 0;
	/* The command: up to its first blank or line end; of a longer
	 * one its first bytes, which are none of RFC 959's (lacked). */
	for (size_t i = 0; i < n && t->sent + i == t->verb_len &&
	     t->verb_len < sizeof(t->verb) && data[i] != ' ' &&
	     data[i] != '\r' && data[i] != '\n';
	     i++)
		t->verb[t->verb_len++] = data[i];
	t->sent += n;
	if (n > 0 && data[n - 1] == '\n')
		t->ended = 1;
}

void
linelore_trace_reply(struct line_trace *t, const char *line, size_t n)
{
	int code;

	if (n < 4 || line[0] < '1' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '9' || line[2] < '0' || line[2] > '9' ||
	    (line[3] != ' ' && line[3] != '-'))
		return;
	if (t->sent == 0)
		return; /* a greeting, or a second reply to one line */
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	/* Any other answer, a 1xx too, comes after the line was read. */
	if (code != 500 && t->sent > t->answered)
		t->answered = t->sent;
	if (code == 500 && t->sent >= LINELORE_MIN) {
		if (linelore_may_lack(t->verb, t->verb_len))
			t->refused_lacks = 1;
		else
			t->refused_base = 1;
	}
	t->sent = 0;
	t->ended = 0;
}

struct line_heard
linelore_heard(struct line_lore *l, size_t req_line, const char *replies,
    size_t answered, int lacks)
{
	struct line_heard h = { 0, 0, 0 };

	/* A line answered whole says the target reads lines that long,
	 * whatever else the request met. */
	if (answered >= LINELORE_MIN && answered > l->ok)
		l->ok = answered;
	if (req_line < LINELORE_MIN)
		return h;
	h.refused = ftpreply_has_code_after(replies, "500", "227");
	if (!h.refused)
		return h;
	h.may_be_long = l->ok < req_line;
	if (lacks) {
		/* No "again": a command the target lacks is refused at every
		 * length, and parking a path for it is wrong. */
		if (l->maybe == 0 || req_line < l->maybe)
			l->maybe = req_line;
		return h;
	}
	h.again = l->refused != 0 && l->refused <= req_line;
	if (!h.again)
		l->refused = req_line;
	return h;
}

int
linelore_refuses(const struct line_lore *l, size_t line)
{
	return line >= LINELORE_MIN && l->refused != 0 && l->refused <= line &&
	    l->ok < line;
}

int
linelore_may_refuse(const struct line_lore *l, size_t line)
{
	return linelore_refuses(l, line) ||
	    (line >= LINELORE_MIN && l->maybe != 0 && l->maybe <= line &&
	        l->ok < line);
}

int
linelore_unsure(const struct line_lore *l, size_t line)
{
	return line >= LINELORE_MIN && l->refused != 0 && l->ok < line;
}

int
linelore_too_long(
    const struct line_lore *l, size_t req_line, int again, int last)
{
	return again && last == 500 && l->ok < req_line;
}
