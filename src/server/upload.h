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
 */
#ifndef RFTP_UPLOAD_H
#define RFTP_UPLOAD_H

#include <limits.h>
#include <stdint.h>

struct session;

enum upload_mode {
	UP_STOR,
	UP_APPE,
	UP_STOU,
};

struct upload {
	int fd;        /* partial, locked, positioned at offset */
	int parent_fd; /* O_PATH folder of the final name */
	char leaf[NAME_MAX + 1];
	char partial[NAME_MAX + 1];
	uint64_t offset; /* where this transfer's bytes start */
	uint64_t credit; /* size of the file this upload replaces */
	/* 1 if it replaces a file (its entry is credited), else 0 */
	uint64_t credit_entries;
};

/*
 * Prepares an upload of vpath (for STOU: a unique name beside it, written
 * back into vpath). rest is the REST offset (0 = none). On failure it has
 * replied to the client and returns -1.
 */
int upload_begin(struct session *s, char *vpath, enum upload_mode mode,
    uint64_t rest, struct upload *up);
/* Publishes the partial under its final name (for STOU without replacing
 * anything), releasing from the quota what the rename really replaced,
 * and writes into vpath (RFTP_PATH_MAX bytes) where the file is now: its
 * folder may have been renamed during the transfer. Returns 0, or -1 with
 * errno (the partial is then kept; EDQUOT: the home would end over quota,
 * because the file the upload was to replace went away or shrank since
 * upload_begin). */
int upload_commit(
    struct session *s, struct upload *up, int noreplace, char *vpath);
/* Ends an unfinished upload. keep: leave the partial for a resume;
 * otherwise remove it and return its bytes to the quota. */
void upload_abandon(struct session *s, struct upload *up, int keep);
/* Size a resuming client must continue from: the partial's if there is
 * one, else the file's. Returns 0 or -1 (errno). */
int upload_resume_size(struct session *s, const char *vpath, uint64_t *size);
/* Removes vpath's partial if one exists and no session is writing it. */
void upload_remove_partial(struct session *s, const char *vpath);

#endif
