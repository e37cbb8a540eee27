/*
 * ftpreply.h - parsing what FTP targets send back: listing lines and digest
 * replies.
 *
 * Owns: turning a target's bytes (an MLSD or LIST line, the replies to
 * SIZE, XSHA256/XSHA1/XMD5 and HASH) into checked values. Targets are untrusted
 * like clients: every number goes through common/numparse, a name that
 * would not fit or that names more than one folder level is refused rather
 * than cut, and nothing here allocates. Pure functions, no I/O, fuzzed by
 * tests/fuzz/fuzz_ftpreply.c.
 */
#ifndef RFTP_FTPREPLY_H
#define RFTP_FTPREPLY_H

#include "common/hash.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct ftp_entry {
	char name[NAME_MAX + 1];
	int64_t size; /* -1: not given, or not a number we trust */
	int is_dir;
};

/*
 * One MLSD line without its line end: "fact=value;fact=value; name"
 * (RFC 3659 7.2). Returns 0 with *out filled, -1 for a line to skip: not
 * MLSD, the cdir/pdir entries, ".", "..", a name with '/' or NUL, or one
 * longer than NAME_MAX.
 */
int ftpreply_mlsd_entry(const char *line, size_t len, struct ftp_entry *out);

/*
 * One LIST line in the Unix "ls -l" form most servers send:
 * "-rw-r--r-- 1 user group 12 Jan 01 12:00 name". Returns 0 or -1 as
 * ftpreply_mlsd_entry (also for entries that are neither files nor
 * folders, such as links).
 */
int ftpreply_list_entry(const char *line, size_t len, struct ftp_entry *out);

/*
 * Finds "<code> <hexlen hex digits>" followed by a blank, a line end or the
 * end, in replies (the text of all replies to one request), e.g. code
 * "250 " and 64 digits for XSHA256. Returns 1 with the digits lowercased
 * into hex, else 0.
 */
int ftpreply_find_hex(const char *replies, const char *code, size_t hexlen,
    char hex[HASH_HEX_MAX]);

/*
 * Finds the first "213 ALGO RANGE HEX ..." reply to HASH
 * (draft-bryan-ftpext-hash 3.1) in replies. Returns 1 with the algorithm
 * and the digest lowercased into hex (exactly the algorithm's length),
 * else 0.
 */
int ftpreply_find_hash(
    const char *replies, enum hash_algo *algo, char hex[HASH_HEX_MAX]);

/*
 * Finds the last "213 <decimal size>" reply line to SIZE (RFC 3659 4.2)
 * in replies: the digits alone up to the line end. Returns 1 with *size,
 * else 0 (no such line, or a number that is not one: a sign, a blank, an
 * overflow).
 */
int ftpreply_find_size(const char *replies, uint64_t *size);

/*
 * The answer to SIZE in replies (the text of a request whose only 213
 * reply is SIZE's): the last "213 " reply line. Returns 1 with *size when
 * it holds a decimal size alone (RFC 3659 4.2), at most INT64_MAX, 0 when
 * there is no such line (SIZE refused, or not sent), -1 when a 213 came
 * that is not a size ("213 -10240", "213 +10240", "213 junk 10240", a
 * number past what a file can hold), with that line into
 * said as ftpreply_last_no: the target told no size, where a reader that
 * takes the trailing digits (libcurl's) takes it for one.
 */
int ftpreply_size_answer(
    const char *replies, uint64_t *size, char *said, size_t saidlen);

/*
 * The last reply in replies that says no ("4xx " or "5xx ", or a
 * multi-line one from its "4xx-" first line, its other lines after "; "
 * without their code: pure-ftpd gives a full disk's reason in the first
 * line and the transfer's speed in the last), into out (outlen > 0)
 * without line ends, bytes outside printable ASCII made '?' and cut to
 * fit: the target's own words for an error libcurl names only by a code,
 * or not at all (a 421 came back as "Timeout was reached"). Returns 1 if
 * there is one, else 0.
 */
int ftpreply_last_no(const char *replies, char *out, size_t outlen);

/* Whether a reply line in replies starts with the three digits code. */
int ftpreply_has_code(const char *replies, const char *code);

/* How many final reply lines ("NNN text", three digits and a blank, as
 * libcurl ends a reply; not a multi-line reply's "NNN-" or text lines) in
 * replies come after the first final one with the three
 * digits after (all of them where none has them, or after is NULL): the
 * answers to a walk's CWDs after the login's PWD (257), a CWD's own 257
 * among them. */
size_t ftpreply_count_final(const char *replies, const char *after);

/* Whether a reply line with the three digits code comes after the last
 * reply line with the three digits after (anywhere in replies where none
 * has them): a 500 to a command sent after PASV's 227, where EPSV's 500
 * came before it. */
int ftpreply_has_code_after(
    const char *replies, const char *code, const char *after);

/*
 * The last final reply line in replies ("NNN text"), into out as
 * ftpreply_last_no: the answer to a request's last command. Returns its
 * code, or 0 if there is none.
 */
int ftpreply_last(const char *replies, char *out, size_t outlen);

/*
 * Whether replies hold MLST's entry line (RFC 3659 7.2: inside the
 * "250-" reply, a line that starts with one blank, "facts; pathname") for
 * a folder (type=dir or cdir). 0 for a file, no such line (no MLST:
 * vsftpd), or a refusal.
 */
int ftpreply_mlst_is_dir(const char *replies);

/*
 * Whether the replies to FEAT (RFC 2389 3.2: one feature per line, after a
 * blank) list feature, e.g. "MFMT"; matched as a whole word.
 */
int ftpreply_feat_lists(const char *replies, const char *feature);

/*
 * Calls fn for each entry of a listing body (len bytes; CRLF or LF lines)
 * that ftpreply_mlsd_entry (mlsd) or ftpreply_list_entry reads; other
 * lines are skipped.
 */
void ftpreply_listing(const char *body, size_t len, int mlsd,
    void (*fn)(void *ctx, const char *name, int64_t size, int is_dir),
    void *ctx);

#endif
