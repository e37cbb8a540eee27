/*
 * filerange.h - the bytes of a local file a push sends as a request body.
 *
 * Owns: reading bytes [start, end) of an open file in the pieces libcurl
 * asks for (pread: the descriptor's offset is nobody's), failing when the
 * file ends before the range does (a file cut short under a push would
 * otherwise send fewer bytes than announced, or hang the request), and
 * telling the push's progress what has been handed over. The libcurl
 * transports (ftp/sftp, webhooks, S3 parts) wrap it in their read
 * callbacks.
 */
#ifndef RFTP_FILERANGE_H
#define RFTP_FILERANGE_H

#include "mirror/transport.h"

#include <stdint.h>
#include <sys/types.h>

struct file_range {
	int fd;
	uint64_t start, end; /* the bytes [start, end) of fd */
	uint64_t off;        /* the next byte to hand over */
	/* Progress is told shown + the bytes handed over since start (an
	 * S3 part reports the parts before it as shown). */
	uint64_t shown;
	transport_progress_fn progress; /* NULL: nobody asks */
	void *progress_ctx;
	/* A file still being written (file_range_follow); NULL: the file
	 * is complete and must hold the whole range. */
	file_grow_fn grow;
	void *grow_ctx;
	int err; /* errno of the read that failed; 0: none did */
};

void file_range_init(struct file_range *r, int fd, uint64_t start, uint64_t end,
    uint64_t shown, transport_progress_fn fn, void *ctx);
/* The range becomes [start, the file's end once grow says it is
 * complete): at the bytes written so far, reads wait in grow. */
void file_range_follow(struct file_range *r, file_grow_fn grow, void *ctx);
/* Back to start, for a request sent again; the progress is told. */
void file_range_rewind(struct file_range *r);
/* At most want bytes into p: how many; 0 once the range is sent; -1 on
 * a read error or a file that ended before the range. */
ssize_t file_range_read(struct file_range *r, char *p, size_t want);
/* After a request that failed: if a read of the file failed (r->err),
 * res->error says so, as "WHAT: cannot read the file here: REASON", and
 * 1 is returned; else 0 and res is left as it is. libcurl only says its
 * read callback aborted, which read as the target's fault. */
int file_range_failed(
    const struct file_range *r, const char *what, struct push_result *res);

#endif
