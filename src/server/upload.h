/*
 * upload.h - atomic, resumable uploads through hidden partial files.
 *
 * Owns: the partial file's life. Bytes of an upload go to
 * ".rftpd-partial.NAME" in the target folder (clients can never name, list
 * or download it); only a complete upload is renamed over NAME, so readers
 * see the old file or the new one, never a mix. The partial is locked while
 * a session writes it, so two sessions never interleave their bytes. A name
 * with a partial behaves, for SIZE, REST+STOR and APPE, as the bytes
 * received so far: that is what lets curl -C - and lftp put -c resume.
 *
 * It neither replies nor logs: it returns why it failed, and the FTP
 * layer (cmd_xfer.c) says so to the client and the log.
 */
#ifndef RFTP_UPLOAD_H
#define RFTP_UPLOAD_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

struct account;

/* What an upload needs from its session: the home, whose quota it is
 * charged to, and the settings that apply. */
struct upload_home {
	int root_fd;             /* the user's home (fsgate.h) */
	struct account *account; /* NULL: no quota to keep */
	uint64_t max_entries_per_folder;
	int fsync; /* fsync_uploads */
	/* The user's delete permission: a STOR over a file (or a link), and
	 * REST N + STOR below a file's end, remove what it held; without it
	 * a new name is published only if it is still free. */
	int may_replace;
	/* The append permission: REST at a file's end + STOR appends. */
	int may_append;
};

/* Why upload_begin refused; the caller (cmd_xfer.c) turns each into its
 * reply. The ones marked errno also leave it in up->err. */
enum upload_err {
	UPLOAD_OK,
	UPLOAD_ERR_UNIQUE,    /* STOU: no unique name could be made */
	UPLOAD_ERR_RESERVED,  /* STOU: the name made would be a partial's */
	UPLOAD_ERR_CREATE,    /* errno: the partial could not be made */
	UPLOAD_ERR_IS_DIR,    /* the name is a folder */
	UPLOAD_ERR_UNCOUNTED, /* the home was not counted (up->why) */
	UPLOAD_ERR_FOLDER,    /* max_entries_per_folder reached */
	UPLOAD_ERR_BUSY,      /* another session writes this partial */
	UPLOAD_ERR_FILES,     /* quota_files reached */
	UPLOAD_ERR_RESTART,   /* errno: the old partial could not be emptied */
	UPLOAD_ERR_REST_MISMATCH, /* REST is past up->have, the partial's size */
	UPLOAD_ERR_REST_BEYOND,   /* REST is past up->have, the file's size */
	/* APPE where a published file has an interrupted upload beside it:
	 * up->have is the partial's size (only REST + STOR continues it). */
	UPLOAD_ERR_APPE_PENDING,
	UPLOAD_ERR_QUOTA,        /* the bytes kept would pass the quota */
	UPLOAD_ERR_APPEND,       /* errno: the file could not be copied */
	UPLOAD_ERR_SEEK,         /* errno: the partial could not be sought */
	UPLOAD_ERR_NEEDS_DELETE, /* a replace, without may_replace */
	UPLOAD_ERR_NEEDS_APPEND, /* REST at the end, without may_append */
	/* REST N then APPE, N not up->have, where APPE would append */
	UPLOAD_ERR_APPE_REST,
};

enum upload_mode {
	UP_STOR,
	UP_APPE,
	UP_STOU,
};

struct upload {
	int fd;        /* partial, for writing, positioned at offset */
	int lock_fd;   /* partial, read-only, holding the lock (flock) */
	int parent_fd; /* O_PATH folder of the final name */
	char leaf[NAME_MAX + 1];
	char partial[NAME_MAX + 1];
	uint64_t offset; /* where this transfer's bytes start */
	uint64_t credit; /* size of the file this upload replaces */
	/* 1 if it replaces a file (its entry is credited), else 0 */
	uint64_t credit_entries;
	/* 1 if it replaces what is not a file (a link or a FIFO a local
	 * program made): its partial was made without the folder's room
	 * check, as a replace's is, but nothing is credited */
	int lent_entry;
	/* 1 if its partial's entry is a replace's (account_add_replace:
	 * within quota_files + 1, or lent past it); ended when the partial
	 * goes */
	int replacing;
	/* 1 if it continues a partial that was there (a resume): the bytes
	 * below offset are not this upload's */
	int resumed;
	/* Set on failure, for the reply and the log: */
	int err;           /* errno of the failed step */
	uint64_t have;     /* REST refusals: the bytes the name holds */
	uint64_t replaced; /* upload_commit's EDQUOT: what the name held */
	/* The name's file when an append began, read only, or -1: what the
	 * append copies, and without may_replace the only file it may
	 * replace, held open so that its inode is not reused; its size and
	 * modification time then, to see another program write into it. */
	int orig_fd;
	uint64_t orig_size;
	struct timespec orig_mtime;
	/* The bytes of an interrupted upload beside the file that an append
	 * without may_replace dropped (only a replace could publish them). */
	uint64_t dropped;
	char why[512]; /* UPLOAD_ERR_UNCOUNTED: what was not counted */
	/* upload_commit's fsync failed: the partial's bytes are not sure
	 * to be on disk (after a failed writeback the kernel may drop them),
	 * so no resume may build on them. */
	int unsynced;
	/* UPLOAD_LEFT: why the partial could not be removed (apart from
	 * err, which says why the upload failed). */
	int unlink_err;
};

/*
 * Prepares an upload of vpath (for STOU: a unique name beside it, written
 * back into vpath). rest is the REST offset (0 = none). Returns UPLOAD_OK
 * with up ready, or why not: nothing is left open then, a partial this
 * call made is removed, and an older partial is kept untouched.
 */
enum upload_err upload_begin(const struct upload_home *h, char *vpath,
    enum upload_mode mode, uint64_t rest, struct upload *up);
/* Publishes the partial under its final name (for STOU without replacing
 * anything), releasing from the quota what the rename really replaced,
 * and writes into vpath (RFTP_PATH_MAX bytes) where the file is now: its
 * folder may have been renamed during the transfer. Returns 0, or -1 with
 * errno (the partial is then kept; EDQUOT: the home would end over quota,
 * because the file the upload was to replace went away or shrank since
 * upload_begin; up->replaced says what the name held; EEXIST: without
 * may_replace, the name holds another file than the one the upload began
 * from, which is kept). */
int upload_commit(
    const struct upload_home *h, struct upload *up, int noreplace, char *vpath);
/* What upload_abandon did with the partial. */
enum upload_kept {
	UPLOAD_REMOVED, /* removed, its bytes and entry back to the quota */
	UPLOAD_KEPT,    /* kept whole for a resume */
	UPLOAD_CUT,     /* kept for a resume, cut back to fit the quota */
	UPLOAD_LEFT,    /* to go, but unlink failed (up->unlink_err): it
	                 * stays, still counted in the quota */
};

/* Ends an unfinished upload. keep: leave the partial for a resume, as much
 * of it as the limits allow (one that was to replace a file may have been
 * lent room against it: see upload.c); otherwise remove it and return its
 * bytes to the quota. */
enum upload_kept upload_abandon(
    const struct upload_home *h, struct upload *up, int keep);
/* Ends an unfinished upload, taking back only its own bytes: a partial it
 * made is removed; one it resumed is cut back to where this upload began
 * (up->offset), for whoever sent those bytes, as much as the limits allow
 * (upload_abandon's keep). */
enum upload_kept upload_abandon_own(
    const struct upload_home *h, struct upload *up);
/* What SIZE answers: the file's size (what RETR sends), or where there is
 * no file yet, its interrupted upload's bytes so far (where a resuming
 * client continues). Returns 0 or -1 (errno; EINVAL: not a plain file). */
int upload_resume_size(
    const struct upload_home *h, const char *vpath, uint64_t *size);
/* Removes vpath's partial if one exists and no session is writing it:
 * 1 if it went, 0 if there is none, -1 (errno) if it is there and could
 * not be removed (EBUSY: a session is writing it). */
int upload_remove_partial(const struct upload_home *h, const char *vpath);
/* If folder vdir holds partials alone (it lists as empty, and RMD is
 * asked of it), removes every one that no session is writing. Returns how
 * many went (0 if anything else is there), or -1 (errno) if the folder
 * cannot be read or one of them could not be removed. */
int upload_remove_partials_in(const struct upload_home *h, const char *vdir);

#endif
