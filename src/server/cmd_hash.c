/*
 * cmd_hash.c - file digests: HASH (draft-bryan-ftpext-hash-02, the
 * algorithm chosen with OPTS HASH in cmd_info.c) and the older XMD5, XSHA1
 * and XSHA256. Each hashes a whole regular file read through fsgate.c and
 * replies with the hex digest.
 */
#include "common/hash.h"
#include "server/cmd_handlers.h"
#include "server/reply.h"
#include "server/server.h"
#include "server/session.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

/* A digest not made: the file could not be read, or the server stops (a
 * HASH of a 60 GiB file held a shutdown for minutes). */
static void
hash_failed(struct session *s, const char *arg)
{
	if (errno == ECANCELED)
		reply(s, 421, "Server shutting down.");
	else
		reply(s, 451, "Cannot read %s.", arg);
}

HANDLER(cmd_hash)
{
	char vpath[RFTP_PATH_MAX], hex[HASH_HEX_MAX];
	uint64_t size;
	int fd = cmd_open_plain(s, arg, vpath, &size);

	if (fd < 0)
		return;
	if (hash_fd(fd, s->hash_algo, 0, UINT64_MAX, &s->srv->stopping, hex) <
	    0) {
		close(fd);
		hash_failed(s, arg);
		return;
	}
	close(fd);
	/* draft-bryan-ftpext-hash-02 section 3.1. */
	reply(s, 213, "%s 0-%llu %s %s", hash_name(s->hash_algo),
	    (unsigned long long)size, hex, arg);
}

static void
do_xhash(struct session *s, const char *arg, enum hash_algo algo)
{
	char vpath[RFTP_PATH_MAX], hex[HASH_HEX_MAX];
	uint64_t size;
	int fd = cmd_open_plain(s, arg, vpath, &size);

	if (fd < 0)
		return;
	if (hash_fd(fd, algo, 0, UINT64_MAX, &s->srv->stopping, hex) < 0) {
		close(fd);
		hash_failed(s, arg);
		return;
	}
	close(fd);
	reply(s, 250, "%s", hex);
}

HANDLER(cmd_xmd5)
{
	do_xhash(s, arg, HASH_MD5);
}

HANDLER(cmd_xsha1)
{
	do_xhash(s, arg, HASH_SHA1);
}

HANDLER(cmd_xsha256)
{
	do_xhash(s, arg, HASH_SHA256);
}
