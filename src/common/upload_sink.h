/*
 * upload_sink.h - the one interface from the server to the mirror.
 *
 * Owns: the shape of a "this file was just published" event. The server
 * calls sink->published() after a completed upload is renamed into place and
 * before it answers 226; the mirror records the event durably there. The
 * server never includes mirror/ and the mirror never includes server/: main
 * connects the two through this struct.
 */
#ifndef RFTP_UPLOAD_SINK_H
#define RFTP_UPLOAD_SINK_H

#include <stdint.h>

struct upload_event {
	const char *user;   /* users.ini section name */
	const char *home;   /* absolute home folder */
	const char *mirror; /* the user's mirror = list ("" = all) */
	const char *path;   /* normalised path in the home, "/a/b" */
	uint64_t size;      /* bytes published */
};

struct upload_sink {
	/* Returns 0 once the event is durable, -1 if it could not be
	 * recorded (the caller then does not claim success). */
	int (*published)(void *ctx, const struct upload_event *ev);
	void *ctx;
};

#endif
