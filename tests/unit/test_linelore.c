/*
 * test_linelore.c - how long a command line an FTP target reads, as its
 * answers tell it (mirror/linelore.h).
 *
 * Lines from 512 bytes on count, a 500 counts only after PASV's 227 (a
 * 500 before it was EPSV's), one 500 alone parks nothing, and a line the
 * target answered otherwise, as long or longer, clears a 500 as the
 * command's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/linelore.h"

#include <string.h>

/* A request's replies: EPSV refused, PASV taken, then the long line's. */
#define AFTER_PASV(last) "500 EPSV no\r\n227 P (127,0,0,1,4,1)\r\n" last

/* The boundary: a 500 to a line of 511 bytes is a command the target
 * lacks; from 512 bytes it may be the line's length. */
static void
test_boundary(void **state)
{
	struct line_lore l = { 0, 0, 0 };
	struct line_heard h;

	(void)state;
	h = linelore_heard(&l, LINELORE_MIN - 1, "500 no\r\n", 0, 0);
	assert_int_equal(h.refused, 0);
	assert_int_equal(l.refused, 0);
	h = linelore_heard(&l, LINELORE_MIN, "500 no\r\n", 0, 0);
	assert_int_equal(h.refused, 1);
	assert_int_equal(h.again, 0);
	assert_int_equal(h.may_be_long, 1);
	assert_int_equal(l.refused, LINELORE_MIN);
	/* A line taken below the boundary is not learnt. */
	l.refused = 0;
	h = linelore_heard(
	    &l, LINELORE_MIN - 1, "250 ok\r\n", LINELORE_MIN - 1, 0);
	assert_int_equal(l.ok, 0);
	h = linelore_heard(&l, LINELORE_MIN, "250 ok\r\n", LINELORE_MIN, 0);
	assert_int_equal(h.refused, 0);
	assert_int_equal(l.ok, LINELORE_MIN);
	/* The lore's questions share the boundary. */
	l.ok = 0;
	l.refused = 100;
	assert_int_equal(linelore_refuses(&l, LINELORE_MIN - 1), 0);
	assert_int_equal(linelore_refuses(&l, LINELORE_MIN), 1);
}

/* EPSV's 500 before PASV's 227 is no line refused; a 500 after it is
 * (the STOR /abs/path sent after the PASV). */
/* A QUOTE command's line as sent: libcurl drops the '*' that lets it
 * fail. Counted, a refused line was learnt a byte longer than it went,
 * and a 500 to a 511-byte "*MLST /abs" line was taken for a long one. */
static void
test_quote_line_without_star(void **state)
{
	char cmd[LINELORE_MIN + 1];
	struct line_lore l = { 0, 0, 0 };
	struct line_heard h;

	(void)state;
	assert_int_equal(linelore_quote_line("SIZE /a"), 9);
	assert_int_equal(linelore_quote_line("*SIZE /a"), 9);
	assert_int_equal(linelore_quote_line("*"), 2);
	/* "*MLST /xxx...": 511 bytes on the wire, CRLF counted. */
	memset(cmd, 'x', sizeof(cmd) - 1);
	memcpy(cmd, "*MLST /", 7);
	cmd[LINELORE_MIN - 2] = '\0';
	assert_int_equal(linelore_quote_line(cmd), LINELORE_MIN - 1);
	h = linelore_heard(&l, linelore_quote_line(cmd), "500 no\r\n", 0, 0);
	assert_int_equal(h.refused, 0);
	assert_int_equal(l.refused, 0);
}

static void
test_500_before_and_after_227(void **state)
{
	struct line_lore l = { 0, 0, 0 };
	struct line_heard h;

	(void)state;
	h = linelore_heard(
	    &l, 2000, AFTER_PASV("150 go\r\n226 done\r\n"), 2000, 0);
	assert_int_equal(h.refused, 0);
	assert_int_equal(l.refused, 0);
	assert_int_equal(l.ok, 2000);
	l.ok = 0;
	h = linelore_heard(
	    &l, 2100, AFTER_PASV("500 Command too long.\r\n"), 0, 0);
	assert_int_equal(h.refused, 1);
	assert_int_equal(h.may_be_long, 1);
	assert_int_equal(l.refused, 2100);
	/* No PASV at all: any 500 counts. */
	l.refused = 0;
	h = linelore_heard(&l, 2100, "500 Command too long.\r\n", 0, 0);
	assert_int_equal(h.refused, 1);
}

/* One 500 decides nothing; a second one as long or longer, on another
 * connection, is a path too long, unless a line as long was taken. */
static void
test_again_and_too_long(void **state)
{
	struct line_lore l = { 0, 0, 0 };
	struct line_heard h;

	(void)state;
	h = linelore_heard(&l, 2300, "500 Command too long.\r\n", 0, 0);
	assert_int_equal(h.again, 0);
	assert_int_equal(linelore_too_long(&l, 2300, h.again, 500), 0);
	/* Shorter, but past the line still: the shortest is kept. */
	h = linelore_heard(&l, 2200, "500 Command too long.\r\n", 0, 0);
	assert_int_equal(h.again, 0);
	assert_int_equal(l.refused, 2200);
	h = linelore_heard(&l, 2300, "500 Command too long.\r\n", 0, 0);
	assert_int_equal(h.again, 1);
	assert_int_equal(linelore_too_long(&l, 2300, h.again, 500), 1);
	/* Only where the request's last answer is that 500. */
	assert_int_equal(linelore_too_long(&l, 2300, h.again, 550), 0);
	assert_int_equal(linelore_refuses(&l, 2300), 1);
	assert_int_equal(linelore_refuses(&l, 2100), 0);
	/* The target took a line as long: the 500 is the command's own. */
	l.ok = 2300;
	assert_int_equal(linelore_too_long(&l, 2300, 1, 500), 0);
	assert_int_equal(linelore_refuses(&l, 2300), 0);
	h = linelore_heard(&l, 2300, "500 Unknown command.\r\n", 0, 0);
	assert_int_equal(h.refused, 1); /* the connection still ends */
	assert_int_equal(h.may_be_long, 0);
}

/* vsftpd's "500 Unknown command." to a long "MLSD /abs/dir", the first
 * long line it heard: learnt for MLSD only. A STOR as long is not taken
 * for refused, and no 500 to a command the target may lack parks. */
static void
test_a_command_the_target_may_lack(void **state)
{
	struct line_trace t;
	struct line_lore l = { 0, 0, 0 };
	struct line_heard h;
	char line[1200];

	(void)state;
	assert_int_equal(linelore_may_lack("MLSD", 4), 1);
	assert_int_equal(linelore_may_lack("mlst", 4), 1);
	assert_int_equal(linelore_may_lack("SITE", 4), 1);
	assert_int_equal(linelore_may_lack("MFMT", 4), 1);
	assert_int_equal(linelore_may_lack("STORE", 5), 1);
	assert_int_equal(linelore_may_lack("STOR", 4), 0);
	assert_int_equal(linelore_may_lack("size", 4), 0);
	assert_int_equal(linelore_may_lack("CWD", 3), 0);
	/* The trace tells the command of the long line answered 500. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "MLSD /", 6);
	memcpy(line + 1000, "\r\n", 2);
	linelore_trace_start(&t);
	linelore_trace_sent(&t, "ML", 2); /* in pieces */
	linelore_trace_sent(&t, line + 2, 1000);
	linelore_trace_reply(&t, "500 Unknown command.\r\n", 22);
	assert_int_equal(t.refused_lacks, 1);
	assert_int_equal(t.refused_base, 0);
	memcpy(line, "SIZE /", 6);
	linelore_trace_sent(&t, line, 1002);
	linelore_trace_reply(&t, "500 Command too long.\r\n", 23);
	assert_int_equal(t.refused_base, 1);
	/* A short line's 500 is none of them. */
	linelore_trace_start(&t);
	linelore_trace_sent(&t, "MLSD /a\r\n", 9);
	linelore_trace_reply(&t, "500 no\r\n", 8);
	assert_int_equal(t.refused_lacks + t.refused_base, 0);

	h = linelore_heard(&l, 1002, "500 Unknown command.\r\n", 0, 1);
	assert_int_equal(h.refused, 1);     /* the connection still ends */
	assert_int_equal(h.may_be_long, 1); /* MLSD not learnt as lacked */
	assert_int_equal(h.again, 0);
	assert_int_equal(l.refused, 0);
	assert_int_equal(l.maybe, 1002);
	assert_int_equal(linelore_refuses(&l, 1100), 0);
	assert_int_equal(linelore_may_refuse(&l, 1100), 1);
	assert_int_equal(linelore_may_refuse(&l, 1000), 0);
	/* Twice: still no "again", so never parked for it. */
	h = linelore_heard(&l, 1100, "500 Unknown command.\r\n", 0, 1);
	assert_int_equal(h.again, 0);
	assert_int_equal(linelore_too_long(&l, 1100, h.again, 500), 0);
	assert_int_equal(l.maybe, 1002);
	/* A line as long answered: MLSD's 500 was its own. */
	h = linelore_heard(&l, 1200, "226 ok\r\n", 1200, 0);
	assert_int_equal(linelore_may_refuse(&l, 1100), 0);
	/* A 500 to a command every server has is learnt as before. */
	l = (struct line_lore){ 0, 0, 0 };
	h = linelore_heard(&l, 1002, "500 Command too long.\r\n", 0, 0);
	assert_int_equal(l.refused, 1002);
	assert_int_equal(linelore_refuses(&l, 1100), 1);
	assert_int_equal(linelore_may_refuse(&l, 1100), 1);
}

static void
test_unsure_between_answered_and_refused(void **state)
{
	struct line_lore l = { 0, 0, 0 };
	struct line_heard h;

	(void)state;
	/* Nothing refused yet: a long line is sent, not unsure. */
	assert_int_equal(linelore_unsure(&l, 3000), 0);
	h = linelore_heard(&l, 2000, "250 ok\r\n", 2000, 0);
	h = linelore_heard(&l, 2400, "500 Command too long.\r\n", 0, 0);
	assert_int_equal(h.refused, 1);
	/* Between 2,000 answered and 2,400 refused: unsure, not refused. */
	assert_int_equal(linelore_refuses(&l, 2300), 0);
	assert_int_equal(linelore_unsure(&l, 2300), 1);
	assert_int_equal(linelore_unsure(&l, 2400), 1);
	assert_int_equal(linelore_unsure(&l, 2000), 0);
	assert_int_equal(linelore_unsure(&l, 1000), 0);
	assert_int_equal(linelore_unsure(&l, 100), 0);
	/* A command the target may lack teaches no length. */
	l = (struct line_lore){ 0, 0, 0 };
	h = linelore_heard(&l, 1002, "500 Unknown command.\r\n", 0, 1);
	assert_int_equal(linelore_unsure(&l, 1100), 0);
}

/* Sends line (CRLF added) and reads the reply lines replies to it. */
static void
exchange(struct line_trace *t, size_t len, const char *replies)
{
	char line[4096];

	assert_true(len >= 2 && len < sizeof(line));
	memset(line, 'x', len - 2);
	memcpy(line + len - 2, "\r\n", 2);
	linelore_trace_sent(t, line, len);
	while (*replies != '\0') {
		const char *end = strstr(replies, "\r\n");

		assert_non_null(end);
		linelore_trace_reply(t, replies, (size_t)(end - replies) + 2);
		replies = end + 2;
	}
}

/* Only a line that went and got an answer other than 500 counts: an RNFR
 * answered 550 before a longer RNTO, which never went, counts the RNFR's
 * length, not the RNTO's (the request's longest, counted before). */
static void
test_trace_counts_lines_answered(void **state)
{
	struct line_trace t;
	struct line_lore l = { 0, 0, 0 };
	struct line_heard h;

	(void)state;
	linelore_trace_start(&t);
	linelore_trace_reply(&t, "220 hello\r\n", 11); /* no line sent */
	exchange(&t, 12, "331 pw\r\n");
	exchange(&t, 1000, "550 No such file.\r\n");
	assert_int_equal(t.answered, 1000);
	/* The RNTO of 2,400 bytes never went: the request ended at the
	 * RNFR's 550. linelore_heard learns the 1,000 bytes only, and a
	 * line of 2,300 bytes refused later still parks. */
	h = linelore_heard(&l, 2400, "550 No such file.\r\n", t.answered, 0);
	assert_int_equal(h.refused, 0);
	assert_int_equal(l.ok, 1000);
	h = linelore_heard(&l, 2300, "500 Command too long.\r\n", 0, 0);
	h = linelore_heard(&l, 2300, "500 Command too long.\r\n", 0, 0);
	assert_int_equal(linelore_too_long(&l, 2300, h.again, 500), 1);

	/* A line answered 500 is not read whole; pyftpdlib's second 500
	 * to its rest answers no line. */
	linelore_trace_start(&t);
	exchange(&t, 2300, "500 Command too long.\r\n500 Command \"\" no.\r\n");
	assert_int_equal(t.answered, 0);
	/* A 150 then 226: read at the 150. A multi-line reply's lines after
	 * its first answer nothing more. */
	exchange(&t, 1500, "150 go\r\n226 done\r\n");
	assert_int_equal(t.answered, 1500);
	exchange(&t, 1800, "213-a\r\n xyz\r\n213 end\r\n");
	assert_int_equal(t.answered, 1800);
	/* A line sent in pieces counts whole. */
	linelore_trace_start(&t);
	linelore_trace_sent(&t, "STOR ", 5);
	linelore_trace_sent(&t, "abc\r\n", 5);
	linelore_trace_reply(&t, "150 ok\r\n", 8);
	assert_int_equal(t.answered, 10);
	/* Not a reply line: skipped. */
	linelore_trace_start(&t);
	linelore_trace_sent(&t, "NOOP\r\n", 6);
	linelore_trace_reply(&t, "x00 y\r\n", 7);
	linelore_trace_reply(&t, "20", 2);
	assert_int_equal(t.answered, 0);
	assert_int_equal(t.sent, 6);
}

/* A request that had a 500 (its long RNTO) and a line answered before it
 * (its RNFR, as long): the length is read, the 500 is the command's. */
static void
test_answered_beside_a_500(void **state)
{
	struct line_lore l = { 0, 0, 0 };
	struct line_heard h;

	(void)state;
	h = linelore_heard(&l, 2300, "350 ok\r\n500 no.\r\n", 2300, 0);
	assert_int_equal(h.refused, 1);
	assert_int_equal(h.may_be_long, 0);
	assert_int_equal(l.ok, 2300);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boundary),
		cmocka_unit_test(test_quote_line_without_star),
		cmocka_unit_test(test_500_before_and_after_227),
		cmocka_unit_test(test_again_and_too_long),
		cmocka_unit_test(test_trace_counts_lines_answered),
		cmocka_unit_test(test_answered_beside_a_500),
		cmocka_unit_test(test_a_command_the_target_may_lack),
		cmocka_unit_test(test_unsure_between_answered_and_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
