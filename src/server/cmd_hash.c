/*
 * cmd_hash.c - file digests: HASH (draft-bryan-ftpext-hash-02, the
 * algorithm chosen with OPTS HASH in cmd_info.c) and the older XMD5, XSHA1
 * and XSHA256. Each hashes a whole regular file read through fsgate.c and
 * replies with the hex digest.
 */
#include "common/fsgate.h"
#include "common/hash.h"
#include "server/cmd_handlers.h"
#include "server/reply.h"
#include "server/session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens a regular file for hashing; replies on failure. */
static int
open_for_hash(struct session *s, const char *arg, char *vpath, uint64_t *size)
{
	struct stat st;
	int fd;

	if (cmd_path(s, arg, vpath) < 0)
		return -1;
	fd = fs_open(s->root_fd, vpath, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0) {
		reply_errno(s, 550, arg, errno);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		reply(s, 550, "%s: Not a plain file.", arg);
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

HANDLER(cmd_hash)
{
	char vpath[RFTP_PATH_MAX], hex[HASH_HEX_MAX];
	uint64_t size;
	int fd = open_for_hash(s, arg, vpath, &size);

	if (fd < 0)
		return;
	if (hash_fd(fd, s->hash_algo, 0, UINT64_MAX, hex) < 0) {
		close(fd);
		reply(s, 451, "Cannot read %s.", arg);
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
	int fd = open_for_hash(s, arg, vpath, &size);

	if (fd < 0)
		return;
	if (hash_fd(fd, algo, 0, UINT64_MAX, hex) < 0) {
		close(fd);
		reply(s, 451, "Cannot read %s.", arg);
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
