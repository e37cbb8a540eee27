/*
 * transport_ops.h - the operations every kind of target implements.
 *
 * Owns: the table a transport implementation fills in, and the list of
 * implementations transport.c picks from by URL scheme. The worker never
 * sees this header: it calls the transport_* functions of transport.h,
 * which dispatch here, so a new kind of target (S3, an HTTP webhook, a
 * local command) is one more table beside the libcurl one, and no caller
 * changes. Each operation has the contract of the transport_* function of
 * the same name; push is split in three steps so that the order (a copy
 * is verified before it gets its final name, and a failed copy is
 * discarded) is written once, in transport.c.
 */
#ifndef RFTP_TRANSPORT_OPS_H
#define RFTP_TRANSPORT_OPS_H

#include "mirror/linelore.h"
#include "mirror/transport.h"

#include <pthread.h>
#include <stdint.h>

/*
 * What the transports of one running target learnt of its server
 * (transport_lore_new), shared by all of them: its workers, its express
 * lane, its stream copies. Each refusal a target makes of a command it
 * lacks is then met once per target, not once per connection. The
 * fields are the libcurl transport's, read and changed under lock.
 */
struct transport_lore {
	pthread_mutex_t lock;
	/* FTP: when (clock_mono_ms) the target was last found refusing
	 * SIZE with 550 though its listing showed the copy (vsftpd
	 * without SIZE in cmds_allowed), its words in size_said; and
	 * refusing MLSD. 0: not found, or found answering since. */
	uint64_t size_refused_ms;
	char size_said[160];
	uint64_t no_mlsd_ms;
	/* Whether it takes a name in another letter case for the same
	 * file (transport_case_blind): 1, 0, -1 not known yet. A file
	 * system's, not a server's: never asked again. */
	int case_blind;
	/* FTP command lines by length (curl_tp.req_line): the longest the
	 * target answered, the shortest answered 500 (linelore.h). */
	struct line_lore line;
};

struct transport_ops {
	const char *name; /* for logs: "libcurl" */
	/* Once per mirror that starts (a library program runs several),
	 * before its threads start; -1 on failure. What it sets up for the
	 * process lasts until the last of them has called global_cleanup. */
	int (*global_init)(void);
	void (*global_cleanup)(void);
	/* A transport for target t, NULL on failure. It connects and logs
	 * in lazily, at its first request, and keeps the connection. */
	void *(*open)(const struct target_config *t, const atomic_int *stop);
	/* What tp is to learn into and read from (transport_new's lore);
	 * NULL: the kind learns nothing that lasts. */
	void (*set_lore)(void *impl, struct transport_lore *lore);
	/* quick: without waiting for the target (one that stopped
	 * answering would hold the caller for its response timeout). */
	void (*close)(void *impl, int quick);
	/* Cuts every connection of the transports opened with this stop
	 * flag, from any thread, once it is set (transport_interrupt);
	 * NULL: the kind's own checks of the flag are enough. */
	void (*interrupt)(const atomic_int *stop);
	/* Where put reports the bytes sent (transport_on_progress). */
	void (*on_progress)(void *impl, transport_progress_fn fn, void *ctx);
	/* The job whose calls follow (transport_set_job); NULL: the kind
	 * does not need it. */
	void (*set_job)(void *impl, const struct transport_job *job);
	/* Where in-flight state survives a crash (transport_set_memo);
	 * NULL: the kind keeps none. */
	void (*set_memo)(void *impl, const struct transport_memo *m);
	/* Push, step 1: upload size bytes of fd under the temporary name of
	 * (rpath, tag), creating missing folders. res is cleared. */
	int (*put)(void *impl, int fd, uint64_t size, const char *rpath,
	    int64_t tag, struct push_result *res);
	/* Push, step 1 for a file still being written (transport.h
	 * transport_put_growing); NULL: the kind cannot. */
	int (*put_growing)(void *impl, int fd, file_grow_fn grow, void *ctx,
	    const char *rpath, int64_t tag, struct push_result *res);
	/* Push, step 2: check the temporary copy against fd as the target's
	 * verify setting asks; sets res->verify_used and res->fell_back. */
	int (*verify)(void *impl, int fd, uint64_t size, const char *rpath,
	    int64_t tag, struct push_result *res);
	/* Push, step 3: rename the temporary copy over rpath. */
	int (*publish)(void *impl, const char *rpath, int64_t tag,
	    struct push_result *res);
	/* The same for a copy put under another path's temporary name
	 * (transport_finish); NULL for the kinds without put_growing. */
	int (*publish_from)(void *impl, const char *from, int64_t tag,
	    const char *rpath, struct push_result *res);
	int (*discard)(void *impl, const char *rpath, int64_t tag);
	int (*remove)(void *impl, const char *rpath, struct push_result *res);
	int (*rename)(void *impl, const char *from, const char *to,
	    struct push_result *res);
	int (*list)(void *impl, const char *rdir,
	    void (*fn)(void *ctx, const char *name, int64_t size, int is_dir),
	    void *ctx, struct push_result *res);
	int (*mkdir)(void *impl, const char *rpath, struct push_result *res);
	int (*rmdir)(void *impl, const char *rpath, struct push_result *res);
	enum time_result (*set_time)(void *impl, const char *rpath,
	    time_t mtime, struct push_result *res);
	/* Whether it keeps a logged-in connection from its last request
	 * (transport_logged_in); NULL: the kind keeps none. */
	int (*logged_in)(void *impl);
	/* What a verified push learnt of the target's names
	 * (transport_case_blind); NULL: the kind tells letter cases apart
	 * (s3 keys, a command's or a webhook's paths). */
	int (*case_blind)(void *impl);
};

/* ftp://, ftps:// and sftp:// through libcurl (transport_curl.c). */
extern const struct transport_ops transport_curl_ops;
/* exec:/ABSOLUTE/PATH: a local command per event (transport_exec.c). */
extern const struct transport_ops transport_exec_ops;
/* http:// and https:// webhooks through libcurl (transport_hook.c). */
extern const struct transport_ops transport_hook_ops;
/* s3:// through libcurl's SigV4 signing (transport_s3.c). */
extern const struct transport_ops transport_s3_ops;

#endif
