/*
 * status.h - GET /api/status: the JSON document the status page reads.
 *
 * Owns: the document's shape and member names (a contract with the page,
 * written down in OPS.md and the README). A pure function of a snapshot
 * and the lists read with it, so a unit test can check it.
 */
#ifndef RFTP_ADMIN_STATUS_H
#define RFTP_ADMIN_STATUS_H

#include "admin/snapshot.h"
#include "common/buf.h"
#include "common/mirror_view.h"
#include "common/stats.h"

#include <stddef.h>
#include <stdint.h>

/* Limits of the jobs page (?limit=). */
#define STATUS_JOBS_DEFAULT 50
#define STATUS_JOBS_MAX     500

struct status_jobs {
	const char *target; /* NULL: all targets */
	int64_t offset;
	int64_t after; /* the cursor asked for (?after=), or -1: by offset */
	size_t limit;
	int ok; /* 0: the queue could not be read (total and items null) */
	int64_t total;
	const struct mirror_job_view *items;
	size_t n;
	int more; /* jobs follow items: next_after is the last item's id */
};

struct status_input {
	const struct snapshot *snap;
	const struct stats_received *received; /* newest first */
	size_t nreceived;
	const struct stats_push *pushes;
	size_t npushes;
	struct status_jobs jobs;
};

/* Appends the document to out: 0, or -1 if out's cap was hit. */
int status_render(const struct status_input *in, struct buf *out);

enum status_doc_result {
	STATUS_DOC_OK = 0,
	STATUS_DOC_NOMEM = -1,
	STATUS_DOC_TOO_LARGE = -2,
};

/*
 * Reads the facts now (st; mv may be NULL or have NULL functions: no
 * mirror) and appends the document to out: GET /api/status and
 * librelayftpd's rftpd_status_json alike. The jobs page is of target
 * (NULL: all), past the id after if after >= 0 else from offset, at most
 * limit (1..STATUS_JOBS_MAX) jobs;
 * max_pushes bounds the pushes in flight listed. A queue that cannot be
 * read is logged and leaves its facts out; the result says what else went
 * wrong.
 */
enum status_doc_result status_document(struct stats *st,
    const struct mirror_view *mv, size_t max_pushes, const char *target,
    int64_t offset, int64_t after, size_t limit, int64_t now_ms,
    struct buf *out);

#endif
