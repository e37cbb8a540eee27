/*
 * stream.h - pushing an upload to the targets while it arrives.
 *
 * Owns: the streams of the uploads in progress. A fresh upload (from byte
 * 0) registers its partial file here (the upload sink's stream_begin);
 * once it holds [mirror] stream_min_size bytes (the server tells of each
 * piece written: stream_grew), a thread per target that takes it (ftp,
 * ftps, sftp) sends the bytes as they are written over a connection of
 * its own (the one an earlier copy left logged in, if any), to the
 * temporary name of the push, never the
 * final one. When the upload ends (stream_end): complete, the copy is
 * finished and waits for the job the server records next; aborted (the
 * client vanished, the quota, a crash of the session), the copy is
 * removed from the target. Only a worker that claimed the upload's job,
 * under every ordering rule of the queue, publishes the copy
 * (stream_take: verify, rename), after checking it holds exactly the
 * file's bytes (same file, size and time); otherwise it pushes the file as
 * always and the copy is removed. A crash leaves at most temporary copies,
 * recorded in the queue file (its memo of uploads) before their first
 * byte; a worker of the target removes what a crash left at the next
 * start, and a copy whose removal met the target down once the target
 * answers again (stream_sweep). A copy lies at the top of the target's
 * folder (the temporary name of "/leaf"), so that no rename or delete of
 * the user's folders there can carry it away, and is renamed into place
 * across folders; an upload published under another name (its folder was
 * renamed meanwhile) ends as incomplete. Must not decide the order of jobs
 * (queue.c) or speak a protocol (transport.c).
 */
#ifndef RFTP_STREAM_H
#define RFTP_STREAM_H

#include "common/upload_sink.h"
#include "mirror/transport.h"

#include <stdint.h>

struct mirror;
struct stream_copy;

/* The upload sink's pair (upload_sink.h); ctx is the mirror. */
void *stream_begin(void *ctx, const struct upload_event *ev, int fd);
void stream_grew(void *ctx, void *h, uint64_t size);
void stream_end(void *ctx, void *h, int complete, uint64_t size);

/* The thread that starts copies once a stream holds stream_min_size bytes
 * (mirror_run); stream_stop (after the mirror's stop flag is set) waits
 * for it and every copy, and frees what is left. */
int stream_start(struct mirror *m);
void stream_stop(struct mirror *m);

/*
 * For a worker of target ti about to push fd (size bytes, mtime_ns) to
 * rpath: a copy a stream made of exactly this file for it. Waits while it
 * is still being sent. 1 with *c, and *from and *tag (the temporary name
 * it is under: the caller finishes the push with transport_finish and
 * must then call stream_settle), 0 if there is none to use.
 */
int stream_take(struct mirror *m, unsigned ti, int fd, uint64_t size,
    int64_t mtime_ns, const char *rpath, struct stream_copy **c,
    const char **from, int64_t *tag);
/* The copy taken is published (it is the target's file now) or not (its
 * thread removes it). */
void stream_settle(struct mirror *m, struct stream_copy *c, int published);
/* A job for rpath on target ti found nothing to push (the file is gone):
 * the copies sent for it are removed (no job will take them). */
void stream_forget(struct mirror *m, unsigned ti, const char *rpath);
/* A worker's push to target ti failed: the copies' kept connections to it
 * are closed at once, in case they hold what the target allows us (one or
 * two connections from an address, as hosting providers set). */
void stream_spares_drop(struct mirror *m, unsigned ti);

/* Removes from target ti the recorded copies no thread of this run owns
 * (an earlier run's, or one whose removal met the target down). 0, or -1
 * if some could not be removed (the target is down: again later). */
int stream_sweep(struct mirror *m, unsigned ti, struct transport *tp);

#endif
