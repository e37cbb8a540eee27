/*
 * upload_sink.h - the one interface from the server to the mirror.
 *
 * Owns: the shape of a "a user's file changed" event. The server calls
 * sink->changed() after a completed upload is renamed into place and
 * before it answers 226, after a DELE or RNTO succeeded, and after a
 * client set a file's modification time (MFMT, SITE UTIME, MDTM); the mirror
 * records the event durably there. The server never includes mirror/ and
 * the mirror never includes server/: main connects the two through this.
 */
#ifndef RFTP_UPLOAD_SINK_H
#define RFTP_UPLOAD_SINK_H

#include <stdint.h>

enum change_op {
	CHANGE_PUT,    /* path now holds a complete new file */
	CHANGE_DELETE, /* path was deleted */
	CHANGE_RENAME, /* path was renamed to new_path */
	CHANGE_TIME,   /* only path's modification time changed */
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
	 * targets that neither hold this version nor have a job for it. */
	int only_if_changed;
};

struct upload_sink {
	/* Returns 0 once the event is durable, -1 if it could not be
	 * recorded (for a PUT the caller then does not claim success). */
	int (*changed)(void *ctx, const struct upload_event *ev);
	void *ctx;
};

#endif
