/*
 * fuzz_ftpreply.c - libFuzzer target for the parsers of what FTP targets
 * send back (mirror/ftpreply.h): the input is one listing line for MLSD and
 * LIST, a whole listing body (both forms), and the replies to a digest
 * command, an error reply's text, and a reply line read by the trace of a
 * command line's answer (mirror/linelore.h). A parsed
 * entry must have a name of 1..NAME_MAX bytes without '/', not "." or "..",
 * and a size of -1 or more; a digest must be lowercase hex.
 */
#include "mirror/ftpreply.h"
#include "mirror/linelore.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_entry(const struct ftp_entry *e)
{
	size_t n = strlen(e->name);

	if (n == 0 || n > NAME_MAX || strchr(e->name, '/') != NULL ||
	    strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0 ||
	    e->size < -1)
		__builtin_trap();
}

/* A target's words for an error: printable ASCII only, starting with its
 * 4xx or 5xx code. */
static void
check_said(const char *said)
{
	if (strlen(said) < 4 || (said[0] != '4' && said[0] != '5'))
		__builtin_trap();
	for (const char *p = said; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			__builtin_trap();
}

/* ftpreply_last's line: any final reply ("NNN "), its code the one
 * returned, printable. */
static void
check_reply(const char *said, int code)
{
	if (strlen(said) < 4 || said[3] != ' ' || code < 100 || code > 599 ||
	    (said[0] - '0') * 100 + (said[1] - '0') * 10 + (said[2] - '0') !=
	        code)
		__builtin_trap();
	for (const char *p = said; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			__builtin_trap();
}

/* ftpreply_listing's callback: the same checks as a single line's. */
static void
listed(void *ctx, const char *name, int64_t size, int is_dir)
{
	struct ftp_entry e;
	size_t n = strlen(name);

	(void)ctx;
	(void)is_dir;
	if (n >= sizeof(e.name))
		__builtin_trap();
	memcpy(e.name, name, n + 1);
	e.size = size;
	check_entry(&e);
}

static void
check_hex(const char *hex)
{
	if (hex[0] == '\0' || strspn(hex, "0123456789abcdef") != strlen(hex))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ftp_entry e;
	struct line_trace trace;
	struct line_lore lore;
	char hex[HASH_HEX_MAX];
	enum hash_algo algo;
	uint64_t found;
	char said[64]; /* small: the cut is tried too */
	char *text;
	int code;

	if (ftpreply_mlsd_entry((const char *)data, size, &e) == 0)
		check_entry(&e);
	if (ftpreply_list_entry((const char *)data, size, &e) == 0)
		check_entry(&e);
	ftpreply_listing((const char *)data, size, 1, listed, NULL);
	ftpreply_listing((const char *)data, size, 0, listed, NULL);
	/* The digest finders read NUL-terminated reply text. */
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (ftpreply_find_hex(text, "250 ", 64, hex))
		check_hex(hex);
	if (ftpreply_find_hash(text, &algo, hex))
		check_hex(hex);
	(void)ftpreply_find_size(text, &found);
	if (ftpreply_size_answer(text, &found, said, sizeof(said)) < 0)
		check_reply(said, 213);
	if (ftpreply_last_no(text, said, sizeof(said)))
		check_said(said);
	code = ftpreply_last(text, said, sizeof(said));
	if (code != 0)
		check_reply(said, code);
	(void)ftpreply_mlst_is_dir(text);
	/* The trace counts at most the line sent, and the lore learns at
	 * most the line it was given. */
	memset(&lore, 0, sizeof(lore));
	linelore_trace_start(&trace);
	linelore_trace_sent(&trace, "NOOP\r\n", 6);
	linelore_trace_reply(&trace, (const char *)data, size);
	if (trace.answered > 6)
		abort();
	/* Both kinds of refused command: one every server has, and one
	 * the target may lack (the input's first bit chooses). */
	(void)linelore_heard(
	    &lore, 2000, text, 2000, size > 0 && (data[0] & 1) != 0);
	if (lore.ok > 2000 || lore.refused > 2000 || lore.maybe > 2000)
		abort();
	free(text);
	return 0;
}
