/*
 * transport.c - see transport.h: picks the implementation of a target by
 * its URL scheme and dispatches every transport_* call to its table
 * (transport_ops.h). Owns the order of a push (put, verify, publish,
 * discard on failure); must not know any protocol or library.
 */
#include "mirror/transport.h"

#include "mirror/transport_ops.h"

#include "common/clock.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct transport {
	const struct transport_ops *ops;
	void *impl;
	const char *twin; /* transport_guard_case; NULL none */
};

/* URL schemes and who serves them (config.c accepts only these). */
static const struct {
	const char *scheme; /* with "://", or "exec:" */
	const struct transport_ops *ops;
} schemes[] = {
	{ "ftp://", &transport_curl_ops },
	{ "ftps://", &transport_curl_ops },
	{ "sftp://", &transport_curl_ops },
	{ "exec:", &transport_exec_ops },
	{ "http://", &transport_hook_ops },
	{ "https://", &transport_hook_ops },
	{ "s3://", &transport_s3_ops },
};

/* Every implementation once, for the process-wide set-up. */
static const struct transport_ops *const impls[] = {
	&transport_curl_ops,
	&transport_exec_ops,
	&transport_hook_ops,
	&transport_s3_ops,
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int
transport_global_init(void)
{
	for (size_t i = 0; i < COUNT(impls); i++) {
		if (impls[i]->global_init() < 0) {
			while (i-- > 0)
				impls[i]->global_cleanup();
			return -1;
		}
	}
	return 0;
}

void
transport_global_cleanup(void)
{
	for (size_t i = COUNT(impls); i-- > 0;)
		impls[i]->global_cleanup();
}

void
transport_interrupt(const atomic_int *stop)
{
	for (size_t i = 0; i < COUNT(impls); i++)
		if (impls[i]->interrupt != NULL)
			impls[i]->interrupt(stop);
}

static const struct transport_ops *
ops_of(const struct target_config *t)
{
	for (size_t i = 0; i < COUNT(schemes); i++)
		if (strncmp(t->url, schemes[i].scheme,
		        strlen(schemes[i].scheme)) == 0)
			return schemes[i].ops;
	return NULL;
}

int
transport_kind_can_grow(const struct target_config *t)
{
	const struct transport_ops *ops = ops_of(t);

	return ops != NULL && ops->put_growing != NULL;
}

int
transport_kind_name_ok(
    const struct target_config *t, const char *rpath, char *why, size_t len)
{
	if (ops_of(t) != &transport_curl_ops ||
	    strncmp(t->url, "sftp://", 7) == 0)
		return 1;
	if (strchr(rpath, 0xff) != NULL) {
		snprintf(why, len,
		    "the name holds the byte 0xFF, which an FTP server reading "
		    "Telnet commands (RFC 854) takes for one: it is not sent");
		return 0;
	}
	/* libcurl refuses an FTP path with one (run() in transport_curl.c
	 * says the same of a refused attempt): known here, resync says it
	 * skipped the name instead of queueing a job that every push
	 * drops, again at every resync. */
	for (const char *p = rpath; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20) {
			snprintf(why, len,
			    "the name holds a control character, which "
			    "libcurl does not send in an FTP path");
			return 0;
		}
	}
	return 1;
}

int
transport_kind_has_folders(const struct target_config *t)
{
	/* ftp, ftps and sftp: an object store or a receiver learns of
	 * files only, its mkdir and rmdir are no-ops. */
	return ops_of(t) == &transport_curl_ops;
}

int
transport_kind_knows_names(const struct target_config *t)
{
	const struct transport_ops *ops = ops_of(t);

	return ops == &transport_curl_ops || ops == &transport_s3_ops;
}

int
transport_kind_writes_in_place(const struct target_config *t)
{
	const struct transport_ops *ops = ops_of(t);

	return ops != NULL && ops != &transport_curl_ops;
}

struct transport_lore *
transport_lore_new(void)
{
	struct transport_lore *lore = calloc(1, sizeof(*lore));

	if (lore == NULL)
		return NULL;
	if (pthread_mutex_init(&lore->lock, NULL) != 0) {
		free(lore);
		return NULL;
	}
	lore->case_blind = -1;
	return lore;
}

void
transport_lore_free(struct transport_lore *lore)
{
	if (lore == NULL)
		return;
	pthread_mutex_destroy(&lore->lock);
	free(lore);
}

struct transport *
transport_new(const struct target_config *t, const atomic_int *stop,
    struct transport_lore *lore)
{
	const struct transport_ops *ops = ops_of(t);
	struct transport *tp;

	if (ops == NULL || (tp = calloc(1, sizeof(*tp))) == NULL)
		return NULL;
	tp->ops = ops;
	tp->impl = ops->open(t, stop);
	if (tp->impl == NULL) {
		free(tp);
		return NULL;
	}
	if (lore != NULL && ops->set_lore != NULL)
		ops->set_lore(tp->impl, lore);
	return tp;
}

static void
transport_close(struct transport *tp, int quick)
{
	if (tp == NULL)
		return;
	tp->ops->close(tp->impl, quick);
	free(tp);
}

void
transport_free(struct transport *tp)
{
	transport_close(tp, 0);
}

void
transport_free_quickly(struct transport *tp)
{
	transport_close(tp, 1);
}

void
transport_on_progress(struct transport *tp, transport_progress_fn fn, void *ctx)
{
	tp->ops->on_progress(tp->impl, fn, ctx);
}

void
transport_set_job(struct transport *tp, const struct transport_job *job)
{
	if (tp->ops->set_job != NULL)
		tp->ops->set_job(tp->impl, job);
}

void
transport_set_memo(struct transport *tp, const struct transport_memo *m)
{
	if (tp->ops->set_memo != NULL)
		tp->ops->set_memo(tp->impl, m);
}

/*
 * Whether fd's file was written while its bytes were sent (its size or
 * modification time moved since before): the copy may then hold old bytes
 * and new ones, with the file's size, which verify = size passes. Such a
 * copy is not published (a consumer of the target would take a mixed
 * file); the job waits its own backoff, as for a file not readable here,
 * and is pushed again once the file keeps still through a push.
 *
 * A write sets the time to the clock's, so a time set meanwhile to one
 * before the push began (MFMT, SITE UTIME: a client that keeps its file's
 * time, as WinSCP does after every upload) is no write: the time job it
 * queued carries it to the target.
 */
static int
file_changed(int fd, const struct stat *before, int64_t began_ms,
    struct push_result *res)
{
	/* File times are the kernel's coarse clock: a tick or two behind. */
	const int64_t slack_ms = 2000;
	struct stat now;

	if (fstat(fd, &now) < 0)
		now.st_size = -1; /* told as such; never published */
	else if (now.st_size == before->st_size &&
	    ((now.st_mtim.tv_sec == before->st_mtim.tv_sec &&
	         now.st_mtim.tv_nsec == before->st_mtim.tv_nsec) ||
	        (int64_t)now.st_mtim.tv_sec * 1000 +
	                now.st_mtim.tv_nsec / 1000000 <
	            began_ms - slack_ms))
		return 0;
	snprintf(res->error, sizeof(res->error),
	    "the file was written while it was sent (%lld bytes before, "
	    "%lld now): its copy is not published; pushed again once it "
	    "keeps still",
	    (long long)before->st_size, (long long)now.st_size);
	res->unreadable = 1;
	res->busy = 1;
	return 1;
}

int
transport_case_blind(const struct transport *tp)
{
	return tp->ops->case_blind != NULL ? tp->ops->case_blind(tp->impl) : 0;
}

void
transport_guard_case(struct transport *tp, const char *twin)
{
	tp->twin = twin;
}

/* 1 (res) if a verified copy must not get its name: the target turned out
 * case-blind, and the name is another file's there (transport_guard_case).
 * Asked between the verify, which learns it, and the publish. */
static int
case_twin_there(const struct transport *tp, struct push_result *res)
{
	if (tp->twin == NULL || transport_case_blind(tp) != 1)
		return 0;
	res->unsendable = 1;
	snprintf(res->error, sizeof(res->error),
	    "the target does not tell this name from %.300s (it ignores "
	    "letter case), whose copy there it would replace: not published",
	    tp->twin);
	return 1;
}

int
transport_push(struct transport *tp, int fd, uint64_t size, const char *rpath,
    int64_t tag, struct push_result *res)
{
	struct stat before;
	int64_t began_ms = clock_wall_ms();
	int verified;

	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (fstat(fd, &before) < 0) {
		snprintf(res->error, sizeof(res->error),
		    "cannot read the file's state: %s", strerror(errno));
		return -1;
	}
	if (tp->ops->put(tp->impl, fd, size, rpath, tag, res) < 0) {
		/* A file cut while it was read ends the upload early ("aborted
		 * by callback"): the file's doing, which must not pause the
		 * target for every other file. */
		if (file_changed(fd, &before, began_ms, res))
			res->mismatch = 0;
		return -1;
	}
	verified = tp->ops->verify(tp->impl, fd, size, rpath, tag, res) == 0;
	/* Looked at after the verify too: a copy that differs because the
	 * file changed is the file's doing, not the target's. */
	if (file_changed(fd, &before, began_ms, res))
		res->mismatch = 0;
	else if (verified && !case_twin_there(tp, res) &&
	    tp->ops->publish(tp->impl, rpath, tag, res) == 0)
		return 0;
	/* Best effort: a redo reuses the same temporary name anyway, and res
	 * keeps the reason of the failure. */
	(void)tp->ops->discard(tp->impl, rpath, tag);
	return -1;
}

int
transport_can_grow(const struct transport *tp)
{
	return tp->ops->put_growing != NULL;
}

int
transport_logged_in(const struct transport *tp)
{
	return tp->ops->logged_in != NULL && tp->ops->logged_in(tp->impl);
}

int
transport_put_growing(struct transport *tp, int fd, file_grow_fn grow,
    void *ctx, const char *rpath, int64_t tag, struct push_result *res)
{
	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (tp->ops->put_growing == NULL) {
		snprintf(res->error, sizeof(res->error),
		    "this kind of target cannot take a file being written");
		return -1;
	}
	return tp->ops->put_growing(tp->impl, fd, grow, ctx, rpath, tag, res);
}

int
transport_finish(struct transport *tp, int fd, uint64_t size, const char *from,
    int64_t tag, const char *rpath, struct push_result *res)
{
	memset(res, 0, sizeof(*res));
	res->verify_used = "none";
	if (tp->ops->publish_from == NULL) {
		snprintf(res->error, sizeof(res->error),
		    "this kind of target cannot take a file being written");
		return -1;
	}
	if (tp->ops->verify(tp->impl, fd, size, from, tag, res) == 0 &&
	    !case_twin_there(tp, res) &&
	    tp->ops->publish_from(tp->impl, from, tag, rpath, res) == 0)
		return 0;
	return -1;
}

int
transport_list(struct transport *tp, const char *rdir,
    void (*fn)(void *ctx, const char *name, int64_t size, int is_dir),
    void *ctx, struct push_result *res)
{
	return tp->ops->list(tp->impl, rdir, fn, ctx, res);
}

enum time_result
transport_set_time(struct transport *tp, const char *rpath, time_t mtime,
    struct push_result *res)
{
	return tp->ops->set_time(tp->impl, rpath, mtime, res);
}

int
transport_discard(struct transport *tp, const char *rpath, int64_t tag)
{
	return tp->ops->discard(tp->impl, rpath, tag);
}

int
transport_mkdir(
    struct transport *tp, const char *rpath, struct push_result *res)
{
	return tp->ops->mkdir(tp->impl, rpath, res);
}

int
transport_rmdir(
    struct transport *tp, const char *rpath, struct push_result *res)
{
	return tp->ops->rmdir(tp->impl, rpath, res);
}

int
transport_delete(
    struct transport *tp, const char *rpath, struct push_result *res)
{
	return tp->ops->remove(tp->impl, rpath, res);
}

int
transport_rename(struct transport *tp, const char *from, const char *to,
    struct push_result *res)
{
	return tp->ops->rename(tp->impl, from, to, res);
}
