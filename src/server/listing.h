/*
 * listing.h - directory listings: LIST, NLST, MLSD, MLST and STAT <path>.
 *
 * Owns: the formats. LIST is the "ls -l" shape that curl, lftp, FileZilla
 * and Python's ftplib parse; MLSD/MLST carry RFC 3659 facts (type, size,
 * modify, perm, unique). Upload partials are never listed; a symlink is
 * shown as what it points to when that is inside the home, and not at all
 * when it leads out or nowhere.
 */
#ifndef RFTP_LISTING_H
#define RFTP_LISTING_H

#include "common/buf.h"

#include <sys/stat.h>

struct session;

enum list_style {
	LIST_LONG,  /* LIST, STAT <path> */
	LIST_NAMES, /* NLST */
	LIST_MLSD,  /* MLSD */
};

/*
 * Formats the listing of vpath (a directory's entries, or one file) into
 * out, each line ending in CRLF. Returns 0, or -1 with errno (ENOENT,
 * ENOTDIR for MLSD on a file, E2BIG when out's cap is reached).
 */
int listing_build(struct session *s, const char *vpath, enum list_style style,
    struct buf *out);
/* RFC 3659 facts of one object, "type=file;size=3;...;" into out. */
void listing_facts(struct session *s, const struct stat *st, const char *type,
    struct buf *out);

#endif
