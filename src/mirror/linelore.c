/*
 * linelore.c - how long a command line an FTP target reads (linelore.h).
 *
 * Owns the rules only: what to learn from a request and what the learnt
 * lengths say. Must not do I/O or take locks; the caller holds its lore's.
 */
#include "mirror/linelore.h"
#include "mirror/ftpreply.h"

#include <string.h>

size_t
linelore_quote_line(const char *cmd)
{
	return strlen(cmd) - (cmd[0] == '*') + 2;
}

void
linelore_trace_start(struct line_trace *t)
{
	t->sent = 0;
	t->ended = 0;
	t->answered = 0;
}

void
linelore_trace_sent(struct line_trace *t, const char *data, size_t n)
{
	/* A line after one that ended unanswered starts afresh. */
	if (t->ended) {
		t->sent = 0;
		t->ended = 0;
	}
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
	t->sent = 0;
	t->ended = 0;
}

struct line_heard
linelore_heard(
    struct line_lore *l, size_t req_line, const char *replies, size_t answered)
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
linelore_too_long(
    const struct line_lore *l, size_t req_line, int again, int last)
{
	return again && last == 500 && l->ok < req_line;
}
