/*
 * filerange.c - a file's byte range as a request body (filerange.h).
 */
#include "mirror/filerange.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void
tell(const struct file_range *r)
{
	if (r->progress != NULL)
		r->progress(r->progress_ctx, r->shown + (r->off - r->start));
}

void
file_range_init(struct file_range *r, int fd, uint64_t start, uint64_t end,
    uint64_t shown, transport_progress_fn fn, void *ctx)
{
	r->fd = fd;
	r->start = start;
	r->end = end;
	r->off = start;
	r->shown = shown;
	r->progress = fn;
	r->progress_ctx = ctx;
	r->grow = NULL;
	r->grow_ctx = NULL;
	r->err = 0;
}

void
file_range_follow(struct file_range *r, file_grow_fn grow, void *ctx)
{
	r->end = UINT64_MAX;
	r->grow = grow;
	r->grow_ctx = ctx;
}

void
file_range_rewind(struct file_range *r)
{
	r->off = r->start;
	r->err = 0;
	tell(r);
}

ssize_t
file_range_read(struct file_range *r, char *p, size_t want)
{
	ssize_t n;

	if (r->off >= r->end)
		return 0;
	if (want > r->end - r->off)
		want = (size_t)(r->end - r->off);
	for (int complete = 0;;) {
		int g;

		do {
			n = pread(r->fd, p, want, (off_t)r->off);
		} while (n < 0 && errno == EINTR);
		if (n != 0 || r->grow == NULL || complete)
			break;
		/* At the bytes written so far: wait for more, or for the
		 * end, which may be right here (once complete, a file that
		 * still ends early is an error as without grow). */
		g = r->grow(r->grow_ctx, r->off, &r->end);
		if (g < 0)
			return -1;
		complete = g == 0;
		if (r->off > r->end)
			return -1; /* more was read than the file holds */
		if (r->off == r->end)
			return 0;
		if (want > r->end - r->off)
			want = (size_t)(r->end - r->off);
	}
	if (n < 0)
		r->err = errno;
	if (n <= 0)
		return -1;
	r->off += (uint64_t)n;
	tell(r);
	return n;
}

int
file_range_failed(
    const struct file_range *r, const char *what, struct push_result *res)
{
	if (r->err == 0)
		return 0;
	snprintf(res->error, sizeof(res->error),
	    "%s: cannot read the file here: %s", what, strerror(r->err));
	return 1;
}
