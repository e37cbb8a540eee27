/*
 * linelore.c - how long a command line an FTP target reads (linelore.h).
 *
 * Owns the rules only: what to learn from a request and what the learnt
 * lengths say. Must not do I/O or take locks; the caller holds its lore's.
 */
#include "mirror/linelore.h"
#include "mirror/ftpreply.h"

struct line_heard
linelore_heard(
    struct line_lore *l, size_t req_line, const char *replies, size_t answered)
{
	struct line_heard h = { 0, 0, 0 };

	if (req_line < LINELORE_MIN)
		return h;
	h.refused = ftpreply_has_code_after(replies, "500", "227");
	if (!h.refused) {
		if (answered > l->ok)
			l->ok = answered;
		return h;
	}
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
