/*
 * upload_sink.h - the one interface from the server to the mirror.
 *
 * Owns: the shape of a "a user's file changed" event and the two-step
 * protocol the server follows for every change it makes in a home:
 *
 *   begin(ev)  takes the user's change lock (the mirror reads a home only
 *              under it, so it never sees a change it has no job for) and,
 *              for DELETE/RENAME/MKDIR/RMDIR, records the change durably
 *              as an intent before it is made (write-ahead: a crash after
 *              the change finds it at the next start);
 *   ...        the server makes the change;
 *   end(done)  settles the intent (done NULL: it did not happen), records
 *              a PUT or a TIME (done->path: where the file really is now),
 *              releases the lock. A completed upload is recorded before its
 *              226, a time a client set (MFMT, SITE UTIME, MDTM) before its
 *              213/200.
 *
 * changed() records a change seen from outside the server (the watcher).
 * stream_begin() and stream_end() bracket a fresh upload, so that the
 * mirror can push its bytes while they arrive; stream_grew() tells it of
 * each piece written. The push is published only by the job end()
 * records, as any other.
 * The server never includes mirror/ and the mirror never includes server/:
 * main connects the two through this.
 */
#ifndef RFTP_UPLOAD_SINK_H
#define RFTP_UPLOAD_SINK_H

#include <stddef.h>
#include <stdint.h>

enum change_op {
	CHANGE_PUT,    /* path now holds a complete new file */
	CHANGE_DELETE, /* path was deleted */
	CHANGE_RENAME, /* path was renamed to new_path */
	CHANGE_TIME,   /* only path's modification time changed */
	CHANGE_MKDIR,  /* folder path was made */
	CHANGE_RMDIR,  /* empty folder path was removed */
};

struct upload_event {
	enum change_op op;
	const char *user;     /* users.ini section name */
	const char *home;     /* absolute home folder */
	const char *mirror;   /* the user's mirror = list ("" = all) */
	const char *path;     /* normalised path in the home, "/a/b" */
	const char *new_path; /* CHANGE_RENAME: the new name, else NULL */
	uint64_t size;        /* CHANGE_PUT: bytes published */
	/* CHANGE_PUT seen from outside the server (the watcher): only for
	 * targets that neither hold this version nor have a job for it; 2:
	 * the file was written (closed after a write), so only a put of it
	 * counts as such a job, not a rename into its name. */
	int only_if_changed;
	/* The client's address ("192.0.2.7"); NULL for the watcher. */
	const char *peer;
	/* Who made the change, for the mirror's fair share between
	 * clients: a client is a user at an address (a hash of both, the
	 * same across sessions and restarts), 0 for a change seen from
	 * outside the server. */
	uint64_t flow;
};

/* Filled by begin, read by end; opaque to the server. */
struct change_token {
	int64_t first, last; /* intent rows (last < first: none) */
	uint64_t locks;      /* the change lock stripes held, one bit each */
	/* The other users whose homes hold the changed path (the mirror's,
	 * freed by end), and how many. */
	void *shared;
	size_t nshared;
	/* A hash of the path(s) begin was given: end is told where the
	 * change was made, elsewhere if a folder above was renamed during
	 * an upload (the mirror's). */
	uint64_t where;
	int held;
};

struct upload_sink {
	/* Returns 0 once the event is durable, -1 if it could not be
	 * recorded (for a PUT the caller then does not claim success). */
	int (*changed)(void *ctx, const struct upload_event *ev);
	/* 0 with the lock held (and the intent durable); -1 if the intent
	 * could not be recorded: the lock is not held, the caller must not
	 * make the change. */
	int (*begin)(
	    void *ctx, const struct upload_event *ev, struct change_token *tok);
	/* Always releases the lock. -1 if done could not be recorded. */
	int (*end)(void *ctx, struct change_token *tok,
	    const struct upload_event *done);
	void *ctx;
	/*
	 * Optional (NULL: nobody streams). A fresh upload (STOR or STOU
	 * from byte 0) starts writing fd, the partial file that becomes
	 * ev->path once complete: the mirror may send its bytes to the
	 * targets while they arrive (mirror/stream.c), under a temporary
	 * name there that only a queued job publishes. ev->size is the
	 * size the client declared (ALLO), 0 if none: an upload declared
	 * too small to be worth streaming may be left alone. Returns a
	 * handle for stream_end, or NULL. Never blocks on the network.
	 */
	void *(*stream_begin)(void *ctx, const struct upload_event *ev, int fd);
	/* Optional: the upload's file now holds size bytes (told after each
	 * piece written, so it must cost next to nothing): a copy waiting
	 * for them, or for the size worth streaming, starts at once rather
	 * than at its next look. */
	void (*stream_grew)(void *ctx, void *h, uint64_t size);
	/* Called exactly once per handle when its upload ends: complete
	 * (size bytes, published; end() records it next) or not (nothing
	 * may ever be published from it: the copies are removed). */
	void (*stream_end)(void *ctx, void *h, int complete, uint64_t size);
};

#endif
