/*
 * test_cmdparse.c - the control-line parsers of server/cmdparse.h.
 *
 * Covers cmd_clean (Telnet IAC sequences of RFC 854: the IP/DM prelude a
 * client sends before ABOR, IAC IAC as a literal 0xFF, option negotiation,
 * the trailing CR), cmd_split (verb case, the argument kept byte for byte,
 * empty lines, NUL bytes, bad verbs, leading blanks), and the address
 * parsers for PORT (RFC 959 4.1.2) and EPRT (RFC 2428): valid forms, every
 * field out of range, missing and extra fields, port 0 and garbage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/cmdparse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* --- cmd_clean ----------------------------------------------------------- */

/* Cleans a copy of in (inlen bytes) and compares with want (wantlen). */
static void
expect_clean(const char *in, size_t inlen, const char *want, size_t wantlen)
{
	char line[128];
	size_t n;

	assert_true(inlen < sizeof(line));
	memcpy(line, in, inlen);
	n = cmd_clean(line, inlen);
	assert_int_equal(n, wantlen);
	assert_memory_equal(line, want, wantlen);
}

#define CLEAN(in, want) expect_clean(in, sizeof(in) - 1, want, sizeof(want) - 1)

static void
test_clean_plain(void **state)
{
	(void)state;
	CLEAN("NOOP", "NOOP");
	CLEAN("NOOP\r", "NOOP");
	CLEAN("", "");
	CLEAN("\r", "");
	/* only one trailing CR goes; a CR elsewhere stays for cmd_split
	 * and the path checks to refuse */
	CLEAN("NOOP\r\r", "NOOP\r");
	CLEAN("CWD a\rb", "CWD a\rb");
	CLEAN("STOR caf\xc3\xa9\r", "STOR caf\xc3\xa9");
}

static void
test_clean_abor_prelude(void **state)
{
	(void)state;
	/* IAC IP, IAC DM (the Synch), then the command: RFC 959 4.1.3 */
	CLEAN("\xff\xf4\xff\xf2"
	      "ABOR\r",
	    "ABOR");
	CLEAN("\xff\xf4\xff\xf2"
	      "ABOR",
	    "ABOR");
	/* DM alone, and IP alone */
	CLEAN("\xff\xf2"
	      "ABOR\r",
	    "ABOR");
	CLEAN("\xff\xf4"
	      "ABOR\r",
	    "ABOR");
	/* other two-byte commands: NOP, AO, AYT, GA */
	CLEAN("\xff\xf1\xff\xf5\xff\xf6\xff\xf9NOOP", "NOOP");
}

static void
test_clean_iac_iac(void **state)
{
	(void)state;
	/* IAC IAC is one data byte 0xFF */
	CLEAN("RETR a\xff\xff"
	      "b\r",
	    "RETR a\xff"
	    "b");
	CLEAN("\xff\xff\xff\xff", "\xff\xff");
	CLEAN("\xff\xff\xff\xf4X",
	    "\xff"
	    "X");
}

static void
test_clean_negotiation(void **state)
{
	(void)state;
	/* IAC WILL/WONT/DO/DONT option: three bytes, all dropped */
	CLEAN("\xff\xfb\x01NOOP", "NOOP");
	CLEAN("\xff\xfc\x03NOOP", "NOOP");
	CLEAN("\xff\xfd\x18NOOP", "NOOP");
	CLEAN("\xff\xfe\x1fNOOP", "NOOP");
	CLEAN("NO\xff\xfb\x01OP\r", "NOOP");
	/* the option byte may itself be 0xFF */
	CLEAN("\xff\xfb\xffNOOP", "NOOP");
	/* truncated sequences at the end do not read past the line */
	CLEAN("NOOP\xff", "NOOP");
	CLEAN("NOOP\xff\xfb", "NOOP");
	CLEAN("\xff", "");
}

/* The caller's buffer is never read past len: guard bytes after it. */
static void
test_clean_bounds(void **state)
{
	char line[16];
	size_t n;

	(void)state;
	memset(line, 'Z', sizeof(line));
	memcpy(line, "AB\xff\xfb", 4);
	n = cmd_clean(line, 4);
	assert_int_equal(n, 2);
	assert_memory_equal(line, "AB", 2);
	for (size_t i = 4; i < sizeof(line); i++)
		assert_int_equal(line[i], 'Z');
}

/* --- cmd_split ----------------------------------------------------------- */

/* Splits a copy of in (with one spare byte for the NUL). */
static enum line_err
split(const char *in, size_t inlen, char *copy, size_t copylen,
    char verb[CMD_VERB_MAX], const char **arg)
{
	assert_true(inlen < copylen);
	memcpy(copy, in, inlen);
	*arg = NULL;
	return cmd_split(copy, inlen, verb, arg);
}

static void
expect_split(const char *in, const char *want_verb, const char *want_arg)
{
	char copy[256], verb[CMD_VERB_MAX];
	const char *arg;
	enum line_err err;

	err = split(in, strlen(in), copy, sizeof(copy), verb, &arg);
	if (err != LINE_OK)
		fail_msg("cmd_split('%s') = %d, want LINE_OK", in, (int)err);
	assert_string_equal(verb, want_verb);
	assert_non_null(arg);
	assert_string_equal(arg, want_arg);
}

static void
expect_split_err(const char *in, size_t inlen, enum line_err want)
{
	char copy[256], verb[CMD_VERB_MAX];
	const char *arg;
	enum line_err err;

	err = split(in, inlen, copy, sizeof(copy), verb, &arg);
	if (err != want)
		fail_msg("cmd_split('%.*s') = %d, want %d", (int)inlen, in,
		    (int)err, (int)want);
}

static void
test_split_verb_and_arg(void **state)
{
	(void)state;
	expect_split("NOOP", "NOOP", "");
	expect_split("noop", "NOOP", "");
	expect_split("rEtR file", "RETR", "file");
	expect_split("CWD dir", "CWD", "dir");
	/* everything after the one separating space is the argument */
	expect_split("CWD  two spaces", "CWD", " two spaces");
	expect_split("STOR a b  c", "STOR", "a b  c");
	expect_split("STOR trailing  ", "STOR", "trailing  ");
	expect_split("STOR ", "STOR", "");
	expect_split("STOR   ", "STOR", "  ");
	expect_split("MKD caf\xc3\xa9", "MKD", "caf\xc3\xa9");
	/* the argument keeps its case */
	expect_split("user Alice", "USER", "Alice");
	/* seven letters is the longest verb that fits */
	expect_split("ABCDEFG x", "ABCDEFG", "x");
}

static void
test_split_leading_blanks(void **state)
{
	(void)state;
	expect_split(" NOOP", "NOOP", "");
	expect_split("   list -la", "LIST", "-la");
}

/* The argument points into the caller's line, which is NUL-terminated at
 * len (so bytes after len never leak into it). */
static void
test_split_terminates_at_len(void **state)
{
	char line[32], verb[CMD_VERB_MAX];
	const char *arg = NULL;

	(void)state;
	memcpy(line, "CWD abcGARBAGE", 15);
	assert_int_equal(cmd_split(line, 7, verb, &arg), LINE_OK);
	assert_string_equal(verb, "CWD");
	assert_ptr_equal(arg, line + 4);
	assert_string_equal(arg, "abc");
}

static void
test_split_empty(void **state)
{
	(void)state;
	expect_split_err("", 0, LINE_EMPTY);
	expect_split_err(" ", 1, LINE_EMPTY);
	expect_split_err("    ", 4, LINE_EMPTY);
}

static void
test_split_nul(void **state)
{
	(void)state;
	expect_split_err("RETR a\0b", 8, LINE_NUL);
	expect_split_err("\0NOOP", 5, LINE_NUL);
	expect_split_err("NOOP\0", 5, LINE_NUL);
	expect_split_err("\0", 1, LINE_NUL);
	expect_split_err("NO\0OP", 5, LINE_NUL);
}

static void
test_split_bad_verb(void **state)
{
	(void)state;
	/* more than seven letters */
	expect_split_err("ABCDEFGH", 8, LINE_BADVERB);
	expect_split_err("ABCDEFGHIJKLMNOP x", 18, LINE_BADVERB);
	/* not a letter where the verb starts */
	expect_split_err("1234", 4, LINE_BADVERB);
	expect_split_err("5NOOP", 5, LINE_BADVERB);
	/* punctuation, control bytes, 8-bit bytes */
	expect_split_err("NO-OP", 5, LINE_BADVERB);
	expect_split_err("NOOP\r", 5, LINE_BADVERB);
	expect_split_err("CWD\tx", 5, LINE_BADVERB);
	expect_split_err("\xc3\xa9T\xc3\xa9", 5, LINE_BADVERB);
	expect_split_err("\xff\xf4"
	                 "ABOR",
	    6, LINE_BADVERB);
	expect_split_err("RETR/x", 6, LINE_BADVERB);
}

/*
 * The command table (cmdtable.c) has XMD5, XSHA1 and XSHA256 and FEAT
 * advertises them, and CMD_VERB_MAX is sized for "XSHA256": a verb is a
 * letter followed by letters or digits. If cmd_split refuses digits these
 * commands can never be dispatched.
 */
static void
test_split_verbs_with_digits(void **state)
{
	(void)state;
	expect_split("XMD5 file.bin", "XMD5", "file.bin");
	expect_split("xsha1 file.bin", "XSHA1", "file.bin");
	expect_split("XSHA256 file.bin", "XSHA256", "file.bin");
}

/* --- PORT ---------------------------------------------------------------- */

static void
expect_port(const char *arg, const char *want_ip, unsigned want_port)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	char ip[INET_ADDRSTRLEN];

	if (cmd_parse_port(arg, &ss, &len) != 0)
		fail_msg("cmd_parse_port('%s') refused", arg);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(sin->sin_family, AF_INET);
	assert_non_null(inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)));
	assert_string_equal(ip, want_ip);
	assert_int_equal(ntohs(sin->sin_port), want_port);
}

static void
expect_port_bad(const char *arg)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;

	if (cmd_parse_port(arg, &ss, &len) == 0)
		fail_msg("cmd_parse_port('%s') accepted", arg);
}

static void
test_port_valid(void **state)
{
	(void)state;
	expect_port("127,0,0,1,4,1", "127.0.0.1", 4 * 256 + 1);
	expect_port("192,168,1,20,195,80", "192.168.1.20", 195 * 256 + 80);
	expect_port("255,255,255,255,255,255", "255.255.255.255", 65535);
	expect_port("10,0,0,1,0,1", "10.0.0.1", 1);
	expect_port("10,0,0,1,1,0", "10.0.0.1", 256);
	expect_port("010,000,000,001,004,001", "10.0.0.1", 1025);
}

static void
test_port_field_over_255(void **state)
{
	static const char *const bad[] = {
		"256,0,0,1,4,1",
		"127,256,0,1,4,1",
		"127,0,256,1,4,1",
		"127,0,0,256,4,1",
		"127,0,0,1,256,1",
		"127,0,0,1,4,256",
		"999,0,0,1,4,1",
		"1000,0,0,1,4,1",
		"127,0,0,1,4,99999999999999999999999",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_port_bad(bad[i]);
}

static void
test_port_bad_shape(void **state)
{
	static const char *const bad[] = {
		/* missing fields */
		"",
		"127",
		"127,0,0,1",
		"127,0,0,1,4",
		"127,0,0,1,4,",
		",0,0,1,4,1",
		"127,,0,1,4,1",
		/* extra fields and trailing bytes */
		"127,0,0,1,4,1,5",
		"127,0,0,1,4,1,",
		"127,0,0,1,4,1x",
		/* port 0 */
		"127,0,0,1,0,0",
		/* garbage, negative, other separators */
		"garbage",
		"a,b,c,d,e,f",
		"-1,0,0,1,4,1",
		"127,0,0,1,-4,1",
		"127.0.0.1.4.1",
		"127;0;0;1;4;1",
		"0x7f,0,0,1,4,1",
		"+127,0,0,1,4,1",
		/* blanks */
		" 127,0,0,1,4,1",
		"127, 0,0,1,4,1",
		"127 ,0,0,1,4,1",
		"127,0,0,1,4, 1",
		"127,0,0,1\t,4,1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_port_bad(bad[i]);
}

/* --- EPRT ---------------------------------------------------------------- */

static void
expect_eprt(
    const char *arg, int family, const char *want_ip, unsigned want_port)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char ip[INET6_ADDRSTRLEN];

	if (cmd_parse_eprt(arg, &ss, &len) != 0)
		fail_msg("cmd_parse_eprt('%s') refused", arg);
	assert_int_equal(ss.ss_family, family);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		assert_int_equal(len, sizeof(*sin));
		assert_non_null(
		    inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)));
		assert_int_equal(ntohs(sin->sin_port), want_port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		assert_int_equal(len, sizeof(*s6));
		assert_non_null(
		    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip)));
		assert_int_equal(ntohs(s6->sin6_port), want_port);
	}
	assert_string_equal(ip, want_ip);
}

static void
expect_eprt_bad(const char *arg)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;

	if (cmd_parse_eprt(arg, &ss, &len) == 0)
		fail_msg("cmd_parse_eprt('%s') accepted", arg);
}

static void
test_eprt_valid(void **state)
{
	(void)state;
	expect_eprt("|1|127.0.0.1|1234|", AF_INET, "127.0.0.1", 1234);
	expect_eprt("|1|132.235.1.2|6275|", AF_INET, "132.235.1.2", 6275);
	expect_eprt("|2|::1|1234|", AF_INET6, "::1", 1234);
	expect_eprt("|2|1080::8:800:200C:417A|5282|", AF_INET6,
	    "1080::8:800:200c:417a", 5282);
	expect_eprt("|2|::ffff:10.0.0.1|21|", AF_INET6, "::ffff:10.0.0.1", 21);
	expect_eprt("|1|10.0.0.1|1|", AF_INET, "10.0.0.1", 1);
	expect_eprt("|1|10.0.0.1|65535|", AF_INET, "10.0.0.1", 65535);
}

/* RFC 2428 2: the delimiter is any character in ASCII 33-126. */
static void
test_eprt_other_delimiters(void **state)
{
	(void)state;
	expect_eprt("!1!127.0.0.1!1234!", AF_INET, "127.0.0.1", 1234);
	expect_eprt("#2#::1#1234#", AF_INET6, "::1", 1234);
	expect_eprt("~1~10.1.2.3~80~", AF_INET, "10.1.2.3", 80);
	expect_eprt("!2!::1!1234!", AF_INET6, "::1", 1234);
	/* mixed delimiters are not one delimiter */
	expect_eprt_bad("|1!127.0.0.1|1234|");
	expect_eprt_bad("!1|127.0.0.1|1234|");
	/* outside 33-126 */
	expect_eprt_bad(" 1 127.0.0.1 1234 ");
	expect_eprt_bad("\x7f"
	                "1\x7f"
	                "127.0.0.1\x7f"
	                "1234\x7f");
	expect_eprt_bad("\t1\t127.0.0.1\t1234\t");
}

static void
test_eprt_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"|",
		"||||",
		/* family */
		"|3|127.0.0.1|1234|",
		"|0|127.0.0.1|1234|",
		"|9|127.0.0.1|1234|",
		"|12|127.0.0.1|1234|",
		"||127.0.0.1|1234|",
		"|x|127.0.0.1|1234|",
		/* family and address disagree */
		"|1|::1|1234|",
		"|2|127.0.0.1|1234|",
		/* delimiters missing or extra */
		"|1|127.0.0.1|1234",
		"|1|127.0.0.1",
		"1|127.0.0.1|1234|",
		"|1|127.0.0.1|1234||",
		"|1|127.0.0.1|1234|x",
		/* address */
		"|1|256.0.0.1|1234|",
		"|1|127.0.0|1234|",
		"|1|localhost|1234|",
		"|1| 127.0.0.1|1234|",
		"|1||1234|",
		"|2|:::1|1234|",
		"|2|[::1]|1234|",
		"|2|fe80::1%eth0|1234|",
		/* port */
		"|1|127.0.0.1|0|",
		"|1|127.0.0.1|65536|",
		"|1|127.0.0.1|99999999999999999999999|",
		"|1|127.0.0.1|-1|",
		"|1|127.0.0.1|12a|",
		"|1|127.0.0.1||",
		"|1|127.0.0.1| 1234|",
		"|2|::1|0|",
		"|2|::1|65536|",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_eprt_bad(bad[i]);
}

/* An address field longer than any address, and a very long argument. */
static void
test_eprt_long_fields(void **state)
{
	char addr[300], arg[400];

	(void)state;
	memset(addr, '1', sizeof(addr) - 1);
	addr[sizeof(addr) - 1] = '\0';
	snprintf(arg, sizeof(arg), "|1|%s|1234|", addr);
	expect_eprt_bad(arg);
	snprintf(arg, sizeof(arg), "|%s|127.0.0.1|1234|", addr);
	expect_eprt_bad(arg);
	snprintf(arg, sizeof(arg), "|1|127.0.0.1|%s|", addr);
	expect_eprt_bad(arg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_plain),
		cmocka_unit_test(test_clean_abor_prelude),
		cmocka_unit_test(test_clean_iac_iac),
		cmocka_unit_test(test_clean_negotiation),
		cmocka_unit_test(test_clean_bounds),
		cmocka_unit_test(test_split_verb_and_arg),
		cmocka_unit_test(test_split_leading_blanks),
		cmocka_unit_test(test_split_terminates_at_len),
		cmocka_unit_test(test_split_empty),
		cmocka_unit_test(test_split_nul),
		cmocka_unit_test(test_split_bad_verb),
		cmocka_unit_test(test_split_verbs_with_digits),
		cmocka_unit_test(test_port_valid),
		cmocka_unit_test(test_port_field_over_255),
		cmocka_unit_test(test_port_bad_shape),
		cmocka_unit_test(test_eprt_valid),
		cmocka_unit_test(test_eprt_other_delimiters),
		cmocka_unit_test(test_eprt_bad),
		cmocka_unit_test(test_eprt_long_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
