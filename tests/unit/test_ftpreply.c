/*
 * test_ftpreply.c - parsing what FTP targets send back (mirror/ftpreply.h).
 *
 * MLSD lines from pyftpdlib, relayftpd and ProFTPD styles, LIST lines from
 * vsftpd and pure-ftpd, and hostile ones: sizes that are negative, too big
 * or not numbers are unknown (-1), never a guess; names that would not fit,
 * hold a '/' or a NUL, or are "." and ".." are skipped, never cut; digest
 * replies must start a reply line and have exactly the algorithm's length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mirror/ftpreply.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static int
mlsd(const char *line, struct ftp_entry *e)
{
	return ftpreply_mlsd_entry(line, strlen(line), e);
}

static int
list(const char *line, struct ftp_entry *e)
{
	return ftpreply_list_entry(line, strlen(line), e);
}

static void
test_mlsd_entries(void **state)
{
	struct ftp_entry e;

	(void)state;
	assert_int_equal(mlsd("type=file;size=12;modify=20261201130000; "
	                      "a b.txt",
	                     &e),
	    0);
	assert_string_equal(e.name, "a b.txt");
	assert_int_equal(e.size, 12);
	assert_int_equal(e.is_dir, 0);
	assert_int_equal(mlsd("Type=dir;Modify=20261201130000;UNIX.mode=0755; "
	                      " leading blank",
	                     &e),
	    0);
	assert_string_equal(e.name, " leading blank");
	assert_int_equal(e.is_dir, 1);
	assert_int_equal(e.size, -1);
	assert_int_equal(mlsd("size=0;type=file; -dash \"q\" \\ %_*", &e), 0);
	assert_string_equal(e.name, "-dash \"q\" \\ %_*");
	assert_int_equal(e.size, 0);
	/* The folder itself and its parent are not entries. */
	assert_int_equal(mlsd("type=cdir;modify=20261201130000; .", &e), -1);
	assert_int_equal(mlsd("type=pdir; ..", &e), -1);
	assert_int_equal(mlsd("type=file; .", &e), -1);
	assert_int_equal(mlsd("type=file; ..", &e), -1);
	/* "type=dirx" is not a folder. */
	assert_int_equal(mlsd("type=dirx; x", &e), 0);
	assert_int_equal(e.is_dir, 0);
}

static void
test_mlsd_hostile(void **state)
{
	struct ftp_entry e;
	char longname[NAME_MAX + 64];
	char line[NAME_MAX + 128];

	(void)state;
	assert_int_equal(mlsd("no-blank-no-name", &e), -1);
	assert_int_equal(mlsd("type=file; ", &e), -1);
	assert_int_equal(mlsd("type=file; a/../../b", &e), -1);
	assert_int_equal(mlsd("type=file;size=-5; n", &e), 0);
	assert_int_equal(e.size, -1);
	assert_int_equal(
	    mlsd("type=file;size=99999999999999999999999; n", &e), 0);
	assert_int_equal(e.size, -1);
	assert_int_equal(mlsd("type=file;size=12abc; n", &e), 0);
	assert_int_equal(e.size, -1);
	assert_int_equal(mlsd("type=file;size=; n", &e), 0);
	assert_int_equal(e.size, -1);
	/* A NUL inside the line ends nothing early: the name is refused. */
	assert_int_equal(ftpreply_mlsd_entry("type=file; a\0b", 14, &e), -1);
	/* The longest name fits; one byte more is skipped, not cut. */
	memset(longname, 'n', sizeof(longname));
	longname[NAME_MAX] = '\0';
	snprintf(line, sizeof(line), "type=file; %s", longname);
	assert_int_equal(mlsd(line, &e), 0);
	assert_int_equal(strlen(e.name), NAME_MAX);
	longname[NAME_MAX] = 'n';
	longname[NAME_MAX + 1] = '\0';
	snprintf(line, sizeof(line), "type=file; %s", longname);
	assert_int_equal(mlsd(line, &e), -1);
	/* Only len bytes are read. */
	assert_int_equal(ftpreply_mlsd_entry("type=file; abcdef", 13, &e), 0);
	assert_string_equal(e.name, "ab");
}

static void
test_list_entries(void **state)
{
	struct ftp_entry e;

	(void)state;
	/* vsftpd */
	assert_int_equal(list("-rw-r--r--    1 0        0           12345 Dec "
	                      "01 13:00 name with  blanks.txt",
	                     &e),
	    0);
	assert_string_equal(e.name, "name with  blanks.txt");
	assert_int_equal(e.size, 12345);
	assert_int_equal(e.is_dir, 0);
	/* pure-ftpd, a folder, a year instead of a time */
	assert_int_equal(list("drwxr-xr-x    2 ftp  ftp  4096 Jan  1  2025 "
	                      "sub",
	                     &e),
	    0);
	assert_string_equal(e.name, "sub");
	assert_int_equal(e.is_dir, 1);
	/* vsftpd: one blank before the name, which keeps its own leading
	 * ones (they were dropped, and resync pushed the file again at each
	 * run); a dot file, as "LIST -a" shows it */
	assert_int_equal(list("-rw-r--r--    1 1001     1001            7 Dec "
	                      "03 06:33   lead",
	                     &e),
	    0);
	assert_string_equal(e.name, "  lead");
	assert_int_equal(e.size, 7);
	assert_int_equal(list("-rw-r--r--    1 1001     1001            7 Dec "
	                      "03  2025 .hidden",
	                     &e),
	    0);
	assert_string_equal(e.name, ".hidden");
	/* links, devices and short or empty lines are skipped */
	assert_int_equal(
	    list("lrwxrwxrwx 1 u g 4 Dec 01 13:00 l -> x", &e), -1);
	assert_int_equal(list("total 8", &e), -1);
	assert_int_equal(list("", &e), -1);
	assert_int_equal(list("-rw-r--r-- 1 u g 12 Dec 01 13:00", &e), -1);
	assert_int_equal(list("-rw-r--r-- 1 u g 12 Dec 01 13:00 ", &e), -1);
	assert_int_equal(list("-rw-r--r-- 1 u g 12 Dec 01 13:00 .", &e), -1);
	assert_int_equal(list("-rw-r--r-- 1 u g 12 Dec 01 13:00 a/b", &e), -1);
	/* a size that is no number is unknown */
	assert_int_equal(list("-rw-r--r-- 1 u g -12 Dec 01 13:00 n", &e), 0);
	assert_int_equal(e.size, -1);
	assert_int_equal(list("-rw-r--r-- 1 u g 1e9 Dec 01 13:00 n", &e), 0);
	assert_int_equal(e.size, -1);
}

static void
test_find_hex(void **state)
{
	char hex[HASH_HEX_MAX];
	const char *sha =
	    "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";

	char replies[512];

	(void)state;
	snprintf(replies, sizeof(replies), "350 Ready\r\n250 %s\r\n", sha);
	assert_int_equal(ftpreply_find_hex(replies, "250 ", 64, hex), 1);
	assert_string_equal(hex,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	snprintf(replies, sizeof(replies), "250 %s name\r\n", sha);
	assert_int_equal(ftpreply_find_hex(replies, "250 ", 64, hex), 1);
	/* wrong length, inside another line, or no digits */
	assert_int_equal(ftpreply_find_hex("250 abc\r\n", "250 ", 64, hex), 0);
	snprintf(replies, sizeof(replies), "200 x250 %s\r\n", sha);
	assert_int_equal(ftpreply_find_hex(replies, "250 ", 64, hex), 0);
	snprintf(replies, sizeof(replies), "250 %s0\r\n", sha);
	assert_int_equal(ftpreply_find_hex(replies, "250 ", 64, hex), 0);
	assert_int_equal(ftpreply_find_hex("", "250 ", 64, hex), 0);
	assert_int_equal(ftpreply_find_hex("250 ab", "250 ", 0, hex), 0);
	assert_int_equal(
	    ftpreply_find_hex("250 ab", "250 ", HASH_HEX_MAX, hex), 0);
}

static void
test_last_no(void **state)
{
	char said[16], wide[80];

	(void)state;
	/* The last 4xx/5xx line, its line end dropped. */
	assert_int_equal(
	    ftpreply_last_no("220 hi\r\n421 go away\r\n", said, sizeof(said)),
	    1);
	assert_string_equal(said, "421 go away");
	assert_int_equal(
	    ftpreply_last_no("550 a\r\n226 ok\r\n553 b\n", said, sizeof(said)),
	    1);
	assert_string_equal(said, "553 b");
	/* A multi-line reply from its first line, its other lines after
	 * "; "; a cut to the buffer; controls and bytes past ASCII as '?'. */
	assert_int_equal(
	    ftpreply_last_no("530-Not\r\n now\r\n", said, sizeof(said)), 1);
	assert_string_equal(said, "530-Not; now");
	/* pure-ftpd starts every line with the code: the reason is in the
	 * first, the last tells the speed (it was all a full disk said). */
	assert_int_equal(ftpreply_last_no("150 go\r\n451-Error during write"
	                                  "\r\n451-Transfer aborted\r\n451 "
	                                  "0.000 seconds\r\n",
	                     wide, sizeof(wide)),
	    1);
	assert_string_equal(
	    wide, "451-Error during write; Transfer aborted; 0.000 seconds");
	assert_int_equal(ftpreply_last_no("451-Error during write\r\n451 "
	                                  "0.000 seconds\r\n",
	                     said, sizeof(said)),
	    1);
	assert_string_equal(said, "451-Error durin");
	/* A line inside a multi-line reply is no reply of its own. */
	assert_int_equal(ftpreply_last_no("550 no\r\n226-Done\r\n550 is no "
	                                  "reply here\r\n226 ok\r\n",
	                     wide, sizeof(wide)),
	    1);
	assert_string_equal(wide, "550 no");
	assert_int_equal(
	    ftpreply_last_no("500 0123456789abcdefgh", said, sizeof(said)), 1);
	assert_string_equal(said, "500 0123456789a");
	assert_int_equal(
	    ftpreply_last_no("451 \x1b[2J\xc3\xa9\r\n", said, sizeof(said)), 1);
	assert_string_equal(said, "451 ?[2J??");
	/* None: only yes, a code inside a line, a short code, nothing. */
	assert_int_equal(
	    ftpreply_last_no("226 ok\r\n213 5\r\n", said, sizeof(said)), 0);
	assert_int_equal(
	    ftpreply_last_no("x 550 no\r\n", said, sizeof(said)), 0);
	assert_int_equal(ftpreply_last_no("55 no\r\n", said, sizeof(said)), 0);
	assert_int_equal(ftpreply_last_no("", said, sizeof(said)), 0);
}

static void
test_find_size(void **state)
{
	uint64_t n = 7;

	(void)state;
	assert_int_equal(ftpreply_find_size("213 4096\r\n", &n), 1);
	assert_int_equal(n, 4096);
	assert_int_equal(ftpreply_find_size("350 x\r\n213 0\r\n", &n), 1);
	assert_int_equal(n, 0);
	/* the last one: the request's SIZE comes after what a login said */
	assert_int_equal(
	    ftpreply_find_size("213 5\r\n230 in\r\n213 77\r\n", &n), 1);
	assert_int_equal(n, 77);
	assert_int_equal(
	    ftpreply_find_size("213 18446744073709551615\n", &n), 1);
	assert_int_equal(n, UINT64_MAX);
	/* not a size: a sign, a blank, letters, an overflow, another code,
	 * inside a line, nothing */
	assert_int_equal(ftpreply_find_size("213 -1\r\n", &n), 0);
	assert_int_equal(ftpreply_find_size("213 12 \r\n", &n), 0);
	assert_int_equal(ftpreply_find_size("213 1e3\r\n", &n), 0);
	assert_int_equal(
	    ftpreply_find_size("213 18446744073709551616\r\n", &n), 0);
	assert_int_equal(ftpreply_find_size("550 4096\r\n", &n), 0);
	assert_int_equal(ftpreply_find_size("200 x213 4096\r\n", &n), 0);
	assert_int_equal(ftpreply_find_size("213 \r\n", &n), 0);
	assert_int_equal(ftpreply_find_size("", &n), 0);
}

static void
test_size_answer(void **state)
{
	char said[32];
	uint64_t n = 7;

	(void)state;
	assert_int_equal(
	    ftpreply_size_answer("213 4096\r\n", &n, said, sizeof(said)), 1);
	assert_int_equal(n, 4096);
	/* RNFR and RNTO before it, a CWD after it */
	assert_int_equal(ftpreply_size_answer("350 ok\r\n250 ok\r\n213 0\r\n"
	                                      "250 in\r\n",
	                     &n, said, sizeof(said)),
	    1);
	assert_int_equal(n, 0);
	/* no 213: refused or not sent, libcurl's way may ask */
	assert_int_equal(ftpreply_size_answer(
	                     "550 no such file\r\n", &n, said, sizeof(said)),
	    0);
	assert_int_equal(ftpreply_size_answer("", &n, said, sizeof(said)), 0);
	assert_int_equal(
	    ftpreply_size_answer("200 x213 4096\r\n", &n, said, sizeof(said)),
	    0);
	/* a 213 that is not a size: the target told none (libcurl's reader
	 * takes the digits at the end of each of these; found from
	 * outside) */
	assert_int_equal(
	    ftpreply_size_answer("213 -10240\r\n", &n, said, sizeof(said)), -1);
	assert_string_equal(said, "213 -10240");
	assert_int_equal(
	    ftpreply_size_answer("213 +10240\r\n", &n, said, sizeof(said)), -1);
	assert_int_equal(
	    ftpreply_size_answer("213 junk 10240\r\n", &n, said, sizeof(said)),
	    -1);
	assert_int_equal(
	    ftpreply_size_answer("213 \r\n", &n, said, sizeof(said)), -1);
	assert_int_equal(ftpreply_size_answer("213 9223372036854775808\r\n", &n,
	                     said, sizeof(said)),
	    -1);
	assert_int_equal(ftpreply_size_answer("213 9223372036854775807\r\n", &n,
	                     said, sizeof(said)),
	    1);
	assert_int_equal(n, INT64_MAX);
	/* the last 213 decides, not the last that parses */
	assert_int_equal(ftpreply_size_answer(
	                     "213 100\r\n213 -100\r\n", &n, said, sizeof(said)),
	    -1);
	/* the words shown printable, cut to fit */
	assert_int_equal(
	    ftpreply_size_answer("213 \x1b[31m -5\r\n", &n, said, sizeof(said)),
	    -1);
	assert_string_equal(said, "213 ?[31m -5");
}

static void
test_find_hash(void **state)
{
	char hex[HASH_HEX_MAX];
	enum hash_algo algo;

	(void)state;
	assert_int_equal(ftpreply_find_hash("213 SHA-256 0-0 "
	                                    "E3B0C44298FC1C149AFBF4C8996FB924"
	                                    "27AE41E4649B934CA495991B7852B855 "
	                                    "f\r\n",
	                     &algo, hex),
	    1);
	assert_int_equal(algo, HASH_SHA256);
	assert_string_equal(hex,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(ftpreply_find_hash("350 x\r\n213 MD5 0-3 "
	                                    "d41d8cd98f00b204e9800998ecf8427e "
	                                    "f\r\n",
	                     &algo, hex),
	    1);
	assert_int_equal(algo, HASH_MD5);
	/* a digest of another algorithm's length, an unknown algorithm, no
	 * range, a 213 inside a line */
	assert_int_equal(
	    ftpreply_find_hash("213 SHA-256 0-3 "
	                       "d41d8cd98f00b204e9800998ecf8427e f",
	        &algo, hex),
	    0);
	assert_int_equal(
	    ftpreply_find_hash("213 SHA-512 0-3 abcd f", &algo, hex), 0);
	assert_int_equal(ftpreply_find_hash("213 MD5 "
	                                    "d41d8cd98f00b204e9800998ecf8427e",
	                     &algo, hex),
	    0);
	assert_int_equal(ftpreply_find_hash("200 a 213 MD5 0-3 "
	                                    "d41d8cd98f00b204e9800998ecf8427e",
	                     &algo, hex),
	    0);
	assert_int_equal(ftpreply_find_hash("213 ", &algo, hex), 0);
	assert_int_equal(ftpreply_find_hash("213 MD5", &algo, hex), 0);
}

static void
test_feat_lists(void **state)
{
	const char *feat = "211-Features:\r\n MDTM\r\n MFMT\r\n MLST "
	                   "type*;size*;\r\n SIZE\r\n211 End\r\n";

	(void)state;
	assert_int_equal(ftpreply_feat_lists(feat, "MFMT"), 1);
	assert_int_equal(ftpreply_feat_lists(feat, "MLST"), 1);
	assert_int_equal(ftpreply_feat_lists(feat, "SIZE"), 1);
	/* a word that only starts or ends like the feature */
	assert_int_equal(ftpreply_feat_lists(feat, "MFM"), 0);
	assert_int_equal(ftpreply_feat_lists(feat, "DTM"), 0);
	assert_int_equal(ftpreply_feat_lists(feat, "HASH"), 0);
	assert_int_equal(ftpreply_feat_lists("MFMT\r\n", "MFMT"), 0);
	assert_int_equal(ftpreply_feat_lists(feat, ""), 0);
}

/* What ftpreply_listing handed over, one "name size dir" line each. */
static void
collect(void *ctx, const char *name, int64_t size, int is_dir)
{
	char *out = ctx;
	size_t n = strlen(out);

	snprintf(
	    out + n, 512 - n, "%s %lld %d\n", name, (long long)size, is_dir);
}

static void
test_listing_bodies(void **state)
{
	/* CRLF and LF lines, a junk line, "." and a last line without its
	 * line end; a name with a space and a trailing CR kept apart. */
	static const char mlsd_body[] = "type=cdir; .\r\n"
	                                "type=file;size=3; a b\r\n"
	                                "garbage\n"
	                                "type=dir; sub\n"
	                                "type=file;size=7; last";
	static const char list_body[] =
	    "-rw-r--r--    1 0 0 5 Dec 01 12:00 f x\r\n"
	    "total 8\r\n"
	    "drwxr-xr-x    2 0 0 4096 Dec 01 12:00 d\r\n";
	char out[512] = "";

	(void)state;
	ftpreply_listing(mlsd_body, sizeof(mlsd_body) - 1, 1, collect, out);
	assert_string_equal(out, "a b 3 0\nsub -1 1\nlast 7 0\n");
	out[0] = '\0';
	ftpreply_listing(list_body, sizeof(list_body) - 1, 0, collect, out);
	assert_string_equal(out, "f x 5 0\nd 4096 1\n");
	out[0] = '\0';
	ftpreply_listing("", 0, 1, collect, out);
	assert_string_equal(out, "");
}

static void
test_listing_padding(void **state)
{
	/* vsftpd's "LIST -a": one blank before each name, so "  lead" keeps
	 * its two; "." and ".." are no entries. */
	static const char vsftpd[] =
	    "drwxr-xr-x    2 0 0 4096 Dec 03 06:33 .\r\n"
	    "-rw-r--r--    1 0 0 7 Dec 03 06:33   lead\r\n"
	    "-rw-r--r--    1 0 0 8 Dec 03 06:33 lead\r\n"
	    "-rw-r--r--    1 0 0 9 Dec 03  2025 .hidden\r\n";
	/* A server that pads two blanks before every name: its padding, not
	 * the names', is taken off (" a" is a name with one blank). */
	static const char padded[] = "-rw-r--r-- 1 0 0 1 Dec 03 06:33  x\n"
	                             "-rw-r--r-- 1 0 0 2 Dec 03 06:33   a\n";
	/* Only names with blanks: the least is padding. */
	static const char only[] = "-rw-r--r-- 1 0 0 3 Dec 03 06:33   b\n";
	char out[512] = "";

	(void)state;
	ftpreply_listing(vsftpd, sizeof(vsftpd) - 1, 0, collect, out);
	assert_string_equal(out, "  lead 7 0\nlead 8 0\n.hidden 9 0\n");
	out[0] = '\0';
	ftpreply_listing(padded, sizeof(padded) - 1, 0, collect, out);
	assert_string_equal(out, "x 1 0\n a 2 0\n");
	out[0] = '\0';
	ftpreply_listing(only, sizeof(only) - 1, 0, collect, out);
	assert_string_equal(out, "b 3 0\n");
	/* Padding taken off never makes "." or ".." (found by fuzzing). */
	out[0] = '\0';
	ftpreply_listing("-rw-r--r-- 1 0 0 1 Dec 03 06:33  ..\n"
	                 "-rw-r--r-- 1 0 0 2 Dec 03 06:33  .\n"
	                 "-rw-r--r-- 1 0 0 3 Dec 03 06:33  .x\n",
	    strlen("-rw-r--r-- 1 0 0 1 Dec 03 06:33  ..\n"
	           "-rw-r--r-- 1 0 0 2 Dec 03 06:33  .\n"
	           "-rw-r--r-- 1 0 0 3 Dec 03 06:33  .x\n"),
	    0, collect, out);
	assert_string_equal(out, ".x 3 0\n");
}

static void
test_mlst_is_dir(void **state)
{
	(void)state;
	assert_int_equal(ftpreply_mlst_is_dir("250-Listing /d\r\n"
	                                      " type=dir;perm=el; /d\r\n"
	                                      "250 End.\r\n"),
	    1);
	assert_int_equal(
	    ftpreply_mlst_is_dir("250-x\r\n Size=1;Type=cdir; /d\r\n250 E"), 1);
	assert_int_equal(
	    ftpreply_mlst_is_dir("250-x\r\n type=file;size=3; /d\r\n250 E"), 0);
	/* A folder named so is a pathname, not a fact. */
	assert_int_equal(
	    ftpreply_mlst_is_dir("250-x\r\n size=3; type=dir;\r\n250 E"), 0);
	/* FEAT's lines also start with a blank. */
	assert_int_equal(ftpreply_mlst_is_dir("211-Features:\r\n MLST "
	                                      "type*;size*;\r\n211 End\r\n"),
	    0);
	assert_int_equal(ftpreply_mlst_is_dir("550 No such file.\r\n"), 0);
	assert_int_equal(ftpreply_mlst_is_dir(""), 0);
	/* A banner's line is no MLST entry: only inside a "250-" reply. */
	assert_int_equal(ftpreply_mlst_is_dir("220-Hello\r\n type=dir; see /p"
	                                      "\r\n220 Ready\r\n"),
	    0);
}

static void
test_last(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(ftpreply_last("504 no\r\n230 in\r\n550 Denied.\r\n",
	                     out, sizeof(out)),
	    550);
	assert_string_equal(out, "550 Denied.");
	assert_int_equal(ftpreply_last("230 in\r\n250-a\r\n x\r\n250 End\r\n",
	                     out, sizeof(out)),
	    250);
	assert_string_equal(out, "250 End");
	assert_int_equal(ftpreply_last("", out, sizeof(out)), 0);
	/* No reply starts with 0 or 6 to 9 (RFC 959 4.2). */
	assert_int_equal(ftpreply_last("000 x\r\n", out, sizeof(out)), 0);
	assert_int_equal(
	    ftpreply_last("250 ok\r\n050 x\r\n900 y\r\n", out, sizeof(out)),
	    250);
}

/* A 500 after PASV's 227 (a long line's), not EPSV's before it. */
static void
test_has_code_after(void **state)
{
	(void)state;
	assert_int_equal(ftpreply_has_code_after("229 x\r\n", "500", "227"), 0);
	assert_int_equal(
	    ftpreply_has_code_after(
	        "500 EPSV no\r\n227 P (1,2,3,4,5,6)\r\n", "500", "227"),
	    0);
	assert_int_equal(
	    ftpreply_has_code_after(
	        "500 EPSV no\r\n227 P\r\n500 long\r\n", "500", "227"),
	    1);
	assert_int_equal(
	    ftpreply_has_code_after("500 long\r\n", "500", "227"), 1);
	assert_int_equal(
	    ftpreply_has_code_after("500-a\r\n500 b\r\n", "500", "227"), 1);
	/* Short lines and no reply. */
	assert_int_equal(ftpreply_has_code_after("50\r\n5", "500", "227"), 0);
	assert_int_equal(ftpreply_has_code_after("", "500", "227"), 0);
}

/* A walk's CWD replies after the login's PWD: final lines only. */
static void
test_count_final(void **state)
{
	(void)state;
	assert_int_equal(ftpreply_count_final("", "257"), 0);
	assert_int_equal(ftpreply_count_final("230 in\r\n257 \"/\"\r\n250 a\r\n"
	                                      "250-b\r\n250 b\r\n550 no\r\n",
	                     "257"),
	    3);
	assert_int_equal(
	    ftpreply_count_final("250 a\r\n200 b\r\n550 c\r\n", NULL), 3);
	assert_int_equal(ftpreply_count_final("250 a\r\n550 c\r\n", "257"), 2);
	assert_int_equal(ftpreply_count_final("250\r\n25 x\r\n250", NULL), 0);
	/* A multi-line reply's text lines without the code are not ends
	 * (libcurl ends a reply at three digits and a blank, any digits). */
	assert_int_equal(ftpreply_count_final("250-Changed.\r\nThe folder\r\n"
	                                      "250 ok\r\n650 x\r\n",
	                     NULL),
	    2);
	/* A target that answers CWD with 257 (libcurl takes any 2xx):
	 * the walk's three replies after the PWD's, not one. */
	assert_int_equal(ftpreply_count_final("230 in\r\n257 \"/h\" is cwd\r\n"
	                                      "257 \"/h/a\" is current\r\n"
	                                      "257 \"/h/a/b\" is current\r\n"
	                                      "550 no\r\n",
	                     "257"),
	    3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mlst_is_dir),
		cmocka_unit_test(test_last),
		cmocka_unit_test(test_mlsd_entries),
		cmocka_unit_test(test_mlsd_hostile),
		cmocka_unit_test(test_list_entries),
		cmocka_unit_test(test_find_hex),
		cmocka_unit_test(test_find_size),
		cmocka_unit_test(test_size_answer),
		cmocka_unit_test(test_last_no),
		cmocka_unit_test(test_has_code_after),
		cmocka_unit_test(test_count_final),
		cmocka_unit_test(test_find_hash),
		cmocka_unit_test(test_feat_lists),
		cmocka_unit_test(test_listing_bodies),
		cmocka_unit_test(test_listing_padding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
