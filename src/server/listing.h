/*
 * listing.h - directory listings: LIST, NLST, MLSD, MLST and STAT <path>.
 *
 * Owns: the formats. LIST is the "ls -l" shape that curl, lftp, FileZilla
 * and Python's ftplib parse; MLSD/MLST carry RFC 3659 facts (type, size,
 * modify, perm, unique). Upload partials are never listed; a symlink is
 * shown as what it points to when that is inside the home, and not at all
 * when it leads out or nowhere. A name holding CR or LF (made by a local
 * program; FTP clients cannot make one) is never listed: on the control
 * connection (STAT) it would forge reply lines, in LIST/NLST/MLSD it would
 * forge entries. The count of such names is logged.
 */
#ifndef RFTP_LISTING_H
#define RFTP_LISTING_H

#include "common/buf.h"
#include "common/limits.h"

#include <dirent.h>
#include <limits.h>
#include <stdint.h>

#include <sys/stat.h>
#include <time.h>

struct session;
struct wildcard;

enum list_style {
	LIST_LONG,  /* LIST, STAT <path> */
	LIST_NAMES, /* NLST */
	LIST_MLSD,  /* MLSD */
};

/* Where a listing goes, piece by piece (the data connection, or the
 * control connection for STAT). Returns 0, or -1 to stop the listing. */
typedef int (*listing_sink)(void *ctx, const char *p, size_t n);

/*
 * One listing in progress. It lives in the caller (no allocation but the
 * directory stream and a bounded output buffer), so memory per listing is
 * the same for 10 entries and for 10 million: entries are read in batches
 * (readdir, getdents underneath) and formatted one at a time into out,
 * which is handed to the sink whenever it fills. A folder of at most
 * RFTP_LIST_SORT_MAX entries is listed sorted by name; a bigger one in
 * directory order (RFC 959 and RFC 3659 ask for no order).
 */
struct listing {
	struct session *s;
	enum list_style style;
	char vpath[RFTP_PATH_MAX];
	struct stat st; /* of vpath */
	time_t now;     /* when it started: LIST's "recent" */
	DIR *d;         /* NULL: vpath is a file, listed as one line */
	struct buf out;
	size_t skipped; /* names with CR or LF, never sent (see listing.c) */
	/* LIST and NLST of a pattern ("*.txt" in "dir"), when no such name
	 * exists: vpath is the folder and only names matching this are
	 * listed (wildcard.h); "" otherwise */
	char pattern[NAME_MAX + 1];
	struct wildcard *match; /* pattern, compiled */
	/* What matching the pattern has cost, in steps (wildcard.h), and
	 * whether it passed its bound (listing.c) and stopped the listing. */
	uint64_t match_steps, match_bytes;
	int too_costly;
	/* NLST of a pattern or of a file named by a path: the folder part of
	 * the client's argument ("sub/" of "sub/a*" or of "sub/a.log",
	 * pointing into it), written before each name; set by the caller
	 * after listing_open. */
	const char *prefix;
	size_t prefix_len;
};

/*
 * Checks vpath and opens it for listing, before the caller answers 150:
 * returns 0, or -1 with errno (ENOENT, EACCES, ENOTDIR for MLSD on a file).
 * For LIST and NLST, a vpath that names nothing but whose last part is a
 * pattern ("*.txt", as ftp's mget and ls send) lists the matching names
 * of its folder, as vsftpd and pure-ftpd do; MLSD takes no patterns
 * (RFC 3659 7.1). On success listing_close must follow, whether or not
 * listing_send ran.
 */
int listing_open(struct session *s, const char *vpath, enum list_style style,
    struct listing *l);
/* Formats and hands every entry to sink. Returns 0, or -1 when the sink
 * refused a piece (its reason is the caller's) or memory ran out. */
int listing_send(struct listing *l, listing_sink sink, void *ctx);
/* Closes the directory and frees the buffer; logs skipped names. */
void listing_close(struct listing *l);
/* RFC 3659 facts of one object, "type=file;size=3;...;" into out. */
void listing_facts(struct session *s, const struct stat *st, const char *type,
    struct buf *out);

/* LIST, NLST and STAT take ls-style options ("-la", "-l sub"), which are
 * skipped, as clients send them and ls would read them: the path after
 * them, or "" (the current folder). */
const char *listing_skip_options(const char *arg);

#endif
