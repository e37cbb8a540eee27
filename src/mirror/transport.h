/*
 * transport.h - pushing one file to one downstream server.
 *
 * Owns: the calls the mirror makes on a target: upload under a temporary
 * name in the target folder (creating missing folders), verify the copy
 * (size, or a hash when the target offers one), then rename it over the
 * final name, so a consumer of the target never sees a partial file; and
 * delete, rename, list, mkdir, rmdir and set-time. Each call dispatches to
 * the implementation of the target's URL scheme (transport_ops.h): libcurl
 * for ftp://, ftps:// and sftp:// (transport_curl.c), http(s):// webhooks
 * (transport_hook.c) and s3:// (transport_s3.c), a program for exec:
 * (transport_exec.c). One transport per worker keeps
 * its connection between pushes, so a burst of small files pays one
 * login. sftp targets have their host key checked (known_hosts or
 * host_key_sha256, as config.c demands) and log in with the configured key
 * or password only. Every QUOTE command comes from quote.h, every remote
 * name from rpath.h.
 */
#ifndef RFTP_TRANSPORT_H
#define RFTP_TRANSPORT_H

#include "common/buf.h"
#include "common/config.h"
#include "mirror/rpath.h" /* RFTP_TMP_PREFIX */

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

struct transport;

struct push_result {
	char error[512];         /* why it failed, for logs and status */
	const char *verify_used; /* "size", "hash" or "none" */
	int fell_back;           /* hash asked, target has none: size used */
	int refused; /* the target answered and said no (not a dead link) */
	/* The target refused this job's file and would take others: the
	 * job waits alone and the target goes on (worker.c push_refused).
	 * Set only where the answer is the file's, never the link's, the
	 * login's or the base folder's: FTP 450 or 5xx but 530 to a STOR
	 * or a command on the path, SFTP's status for the path, a webhook's
	 * 400, 409, 413, 414, 415 or 422, a command's exit status 65, S3's
	 * error about the object (AccessDenied, EntityTooLarge, ...:
	 * transport_s3.c s3_object_refused). */
	int file_refused;
	int mismatch; /* verify: the copy differs from the file (size or
	               * hash), not a failure to ask */
	/* This job's path can never be sent to this target (a name the
	 * transport refuses): the job is dropped at once (logged) and the
	 * target is not backed off, so one such name holds up no other
	 * job (worker.c push_unsendable). */
	int unsendable;
	/* Something the mirror must not remove stands in this job's way on
	 * the target (a folder of the target's own, or one of archived
	 * files, at the name a file must take): no retry can succeed until
	 * the target's admin moves it, so the job is parked at once,
	 * whatever max_attempts says, with res->error naming the path, and
	 * the target's other jobs go on (worker.c push_blocked). Set by the
	 * worker, and by a transport only for what no retry changes before
	 * anything is sent (ftpcmds.c ftpc_path_fits: a path too long). */
	int blocked;
	/* With file_refused: the refusal was the final name's (the rename
	 * of the copy onto it, ftpcmds.c ftpc_publish_from), not its
	 * temporary copy's. Only then can a folder at that name be why
	 * (worker.c target_has_folder), which lists the parent to learn it:
	 * a full disk or a folder closed to writes refuses the copy
	 * itself, and was asked for a listing of the parent at each
	 * refusal (1 s of a pyftpdlib target's CPU for 100,000 names). */
	int at_final_name;
	/* A delete or rmdir ended with the name still on the target: the
	 * target refused it (no permission; a folder it holds other files
	 * in). The call still returns 0, for the callers to whom a name left
	 * is no error (a folder that holds archived files); the delete and
	 * rmdir jobs warn with res->error (worker.c warn_kept). FTP only,
	 * where the target can tell: SIZE for a file, MLST for a folder. */
	int kept;
	/* The file could not be opened here (its permissions, a symbolic
	 * link the mirror does not follow), or was written while it was
	 * sent (transport_push): no fault of the target's. The job waits its own backoff and the target goes on
	 * (worker.c push_unreadable); it paused the target, and every other
	 * user's push waited on one file (found from outside). */
	int unreadable;
	/* With unreadable: the file is being written (open for writing by
	 * another program, or written while it was sent). Tried again on
	 * its own backoff but never parked for it: max_attempts would park
	 * a log file a program keeps open, where its close makes it
	 * pushable. */
	int busy;
	/* With unreadable: the job's home is not there (worker.c
	 * home_is_missing), which every job of that home meets. */
	int home_missing;
	/* FTP: the target refused this request's new connection before it
	 * was logged in (a 421 greeting, or 421 or 530 to USER or PASS with
	 * no 230): a limit of connections from this address (vsftpd
	 * max_per_ip, pure-ftpd -C, proftpd MaxClientsPerHost), or a login
	 * the target does not take; worker.c tells them apart by the
	 * target's other connections (push_conn_refused). */
	int conn_refused;
	/* Seconds the target asked to be left alone before the next
	 * attempt: the Retry-After of an HTTP 429 or 503 answer (RFC 9110
	 * section 10.2.3: delta-seconds or an HTTP-date, read by libcurl,
	 * curlbase_retry_after), 0 when it did not say. Set by the webhook
	 * and S3 transports on the failed request that ends the call. The
	 * worker waits at least that long before the target's next attempt,
	 * never beyond retry_max (push_failed, backoff_asked_ms). FTP and
	 * SFTP have no equivalent: an FTP 421 "try again in N minutes" is
	 * free text (RFC 959 gives it no syntax) and is not parsed, and
	 * SFTP's status codes carry no delay. */
	int64_t retry_after_s;
};

/* Told the bytes of a push's file sent so far (its upload step, which
 * starts again from 0 when the upload is redone). Runs on the worker's
 * thread inside the transfer: it must be cheap and must not block. */
typedef void (*transport_progress_fn)(void *ctx, uint64_t done);

/* A file still being written (a stream, mirror/stream.c): a reader that
 * reached off, the bytes written so far, waits here. 1: more may have
 * come (read again); 0: the file is complete, *end is its size; -1: it
 * never will be (the push is abandoned). */
typedef int (*file_grow_fn)(void *ctx, uint64_t off, uint64_t *end);

/* The job whose calls follow, for kinds of target that tell a receiver
 * about a change instead of mirroring a tree (a webhook's event, a local
 * command's environment): the worker sets it before each job's first
 * call; the strings stay valid until the next transport_set_job. Kinds
 * that mirror a tree (ftp, ftps, sftp) take it only as a job's start:
 * what the libcurl transport kept of the target for the job before
 * (a folder's listing) is forgotten. */
struct transport_job {
	int64_t id;           /* the queue's job id (stable across retries) */
	int64_t created_ms;   /* when the change was recorded (before 226) */
	const char *event;    /* "put", "delete", "rename", "mkdir", "rmdir",
	                       * "time" */
	const char *user;     /* users.ini section */
	const char *home;     /* the user's home, absolute */
	const char *path;     /* "/a/b" in the home */
	const char *new_path; /* rename: the new path; else NULL */
};

/*
 * Where a kind of target keeps what a crash in the middle of a push must
 * not lose (the queue file, through the worker): an S3 target's multipart
 * upload ids, recorded before the first part is sent and forgotten once
 * the upload is completed or aborted. Each call is 0, or -1; ids fills
 * out with the ids of (target, key), each followed by a NUL, and returns
 * their number or -1. The struct must outlive the transport.
 */
struct transport_memo {
	void *ctx;
	int (*add)(
	    void *ctx, const char *target, const char *key, const char *id);
	int (*forget)(
	    void *ctx, const char *target, const char *key, const char *id);
	int (*ids)(
	    void *ctx, const char *target, const char *key, struct buf *out);
};

/* Once per mirror that starts, before its threads start, and cleanup once
 * it stopped: several mirrors of one process share what lasts until the
 * last cleanup (libcurl counts its own users as well). */
int transport_global_init(void);
void transport_global_cleanup(void);
/* Between hold and release no process is being started by an exec:
 * target, so no child holds a copy of the daemon's descriptors: a check
 * of who has a file open for writing (fs_has_writer) made then sees only
 * the real writers. Hold it only for such a check. */
void transport_spawns_hold(void);
void transport_spawns_release(void);

/*
 * What the transports of one running target learn of its server (a
 * command it refuses), for all of them to know: made when the target's
 * workers start, freed (transport_lore_free) once every transport given
 * it is freed. NULL if there is no memory: each transport then learns on
 * its own. Safe to use from any thread.
 */
struct transport_lore;
struct transport_lore *transport_lore_new(void);
void transport_lore_free(struct transport_lore *lore);

/* A transport for t (NULL if its URL scheme has no implementation, or no
 * memory); free it with transport_free. stop: when it becomes non-zero, a
 * request in progress is abandoned; it must outlive the transport. lore:
 * what t's other transports learnt (transport_lore_new), shared with
 * them; it must outlive the transport. NULL: its own, for it alone. */
struct transport *transport_new(const struct target_config *t,
    const atomic_int *stop, struct transport_lore *lore);
/* Once stop is set: cuts the connections of every transport made with it,
 * from any thread, so that a request waiting on a target (a stalled TLS
 * handshake, which no check of the flag reaches) ends at once. */
void transport_interrupt(const atomic_int *stop);
void transport_free(struct transport *tp);
/* The same without a goodbye the target must answer (it may have stopped
 * answering while the connection sat idle). */
void transport_free_quickly(struct transport *tp);
/* Every push of tp reports its progress to fn(ctx) (NULL: no more). */
void transport_on_progress(
    struct transport *tp, transport_progress_fn fn, void *ctx);
void transport_set_job(struct transport *tp, const struct transport_job *job);
/* The memo tp's pushes keep their in-flight state in (NULL: none, then a
 * crash's leftovers are only found by asking the target). */
void transport_set_memo(struct transport *tp, const struct transport_memo *m);
/*
 * Pushes size bytes of fd to remote path rpath ("/base/user/dir/name"
 * under the target URL's path). tag makes the temporary name unique per
 * job, so a redone push reuses it. Returns 0 when the copy is verified and
 * in place, -1 with res->error otherwise.
 */
int transport_push(struct transport *tp, int fd, uint64_t size,
    const char *rpath, int64_t tag, struct push_result *res);
/* 1 if tp's kind (t's, for one not opened) can send a file that is still
 * being written. */
int transport_can_grow(const struct transport *tp);
/* 1 if tp keeps a logged-in connection from its last request (the target
 * counts it among those it takes from this address), else 0. */
int transport_logged_in(const struct transport *tp);
/*
 * 1 if tp's target takes a name spelled in another letter case for the
 * same file ("a.txt" for "A.txt": an SMB share, exFAT, NTFS, ext4 with
 * casefold behind its server), 0 if it tells them apart, -1 if not known
 * yet. Learnt at the first verified push of tp (ftp, ftps, sftp); always
 * 0 for the kinds whose names are exact (s3 keys, exec, webhooks).
 */
int transport_case_blind(const struct transport *tp);
/*
 * The next pushes of tp are not published where the target turns out to
 * be case-blind (transport_case_blind) before their copy gets its name:
 * twin is the home path ("/A.txt") of the file or folder whose copy the
 * name would replace there. The copy is discarded and the push fails with
 * res->unsendable. NULL: publish as ever. twin must live until the next
 * call; it is not copied.
 */
void transport_guard_case(struct transport *tp, const char *twin);
int transport_kind_can_grow(const struct target_config *t);
/* 1 if t's kind holds folders (a refused mkdir or rename can leave one
 * behind), 0 if not. */
int transport_kind_has_folders(const struct target_config *t);
/* 1 if t's kind refuses a rename of a name it does not hold (a server, an
 * object store), 0 if it cannot tell (a command or a webhook, told of
 * events). */
int transport_kind_knows_names(const struct target_config *t);
/* 1 if t's kind writes a push to its final name at once (s3, a command, a
 * webhook: no temporary copy to publish or discard), 0 if not. */
int transport_kind_writes_in_place(const struct target_config *t);
/*
 * 1 if t's kind can send a file named rpath as it is, 0 if no attempt
 * ever can (why then says so). An FTP target gets the byte 0xFF raw in
 * its commands: a server that reads them as Telnet (RFC 854: relayftpd,
 * proftpd) takes it and the next byte as a command and drops them, so
 * ".\xff\xfbX." became ".." there and a name reached another user's
 * folder; one that does not keeps the byte. Neither can be told apart
 * from here, and doubling it would name the file wrongly on the second.
 * Nor does an FTP target get a control byte (0x01-0x1F): libcurl sends no
 * FTP path that holds one.
 */
int transport_kind_name_ok(
    const struct target_config *t, const char *rpath, char *why, size_t len);
/*
 * A push's first step alone, for a file still being written: fd from its
 * first byte, its end told by grow, to the temporary copy of (rpath, tag)
 * (never the final name). 0 or -1 (res). The copy is then verified and
 * published by transport_finish (on any transport of the target), or
 * removed by transport_discard.
 */
int transport_put_growing(struct transport *tp, int fd, file_grow_fn grow,
    void *ctx, const char *rpath, int64_t tag, struct push_result *res);
/* The rest of a push whose copy is on the target under the temporary name
 * of (from, tag) (transport_put_growing's rpath): verified against size
 * bytes of fd, then renamed over rpath. 0, or -1 (res) with the copy left
 * to its owner to discard. */
int transport_finish(struct transport *tp, int fd, uint64_t size,
    const char *from, int64_t tag, const char *rpath, struct push_result *res);

/*
 * Lists the folder rdir on the target (MLSD, else LIST), calling fn for each
 * entry with its name, size (-1 if unknown) and whether it is a folder.
 * A missing folder is an empty listing. Returns 0, or -1 with res->error.
 */
int transport_list(struct transport *tp, const char *rdir,
    void (*fn)(void *ctx, const char *name, int64_t size, int is_dir),
    void *ctx, struct push_result *res);
/* What became of setting a file's modification time on a target. */
enum time_result {
	TIME_SET,     /* done */
	TIME_CANNOT,  /* the target offers no way to (res->error: what not) */
	TIME_REFUSED, /* the target refused it for this file (res->error) */
	TIME_FAILED,  /* the connection failed (res->error): try again */
};

/*
 * Sets the modification time of rpath on the target to mtime (whole
 * seconds, UTC). FTP: MFMT when the target's FEAT lists it, else SITE
 * UTIME, else the two-argument MDTM (vsftpd), each read back with MDTM
 * once before it is trusted; learnt once per transport. SFTP: libcurl's
 * "mtime" quote (SSH_FXP_SETSTAT).
 */
enum time_result transport_set_time(struct transport *tp, const char *rpath,
    time_t mtime, struct push_result *res);
/* Removes the temporary copy an interrupted push of (rpath, tag) may have
 * left on the target. A copy that is not there is success (0); 1 when the
 * target would not remove it (it takes no deletes: asking again changes
 * nothing, so the caller says so and goes on); -1 when the target could
 * not be asked, or said "not now" (FTP 4xx) and keeps the copy: then the
 * caller keeps the job (or its record), so the copy is not forgotten. */
int transport_discard(struct transport *tp, const char *rpath, int64_t tag);
/* Makes folder rpath and its missing parents on the target; an existing
 * folder is success. -1 with res->error otherwise. */
int transport_mkdir(
    struct transport *tp, const char *rpath, struct push_result *res);
/* Removes the empty folder rpath on the target; one that is gone or not
 * empty there is left as it is (success, with res->kept where the target
 * says it is still there); -1 if the target is unreachable. */
int transport_rmdir(
    struct transport *tp, const char *rpath, struct push_result *res);
/* Deletes rpath on the target; a file already gone there is success, and
 * so is one the target would not delete, with res->kept. */
int transport_delete(
    struct transport *tp, const char *rpath, struct push_result *res);
/* Renames from to on the target. -1 with res->refused set if the target
 * answered no (the caller then repairs: parents, or pushes the new name),
 * -1 without it if the target could not be reached. */
int transport_rename(struct transport *tp, const char *from, const char *to,
    struct push_result *res);

#endif
