/*
 * ftpcmds.h - what the libcurl transport says to an FTP or SFTP target
 * through QUOTE commands, without libcurl.
 *
 * Owns: the remote names of one connection (URL folder, login folder, the
 * temporary name of a push) and the command lists of the requests that
 * are only commands: publish a copy by rename, delete, rename, rmdir,
 * discard a temporary copy, ask a digest (XSHA256, HASH, XMD5) and set a
 * file's time (MFMT, SITE UTIME, MDTM, SFTP mtime), learning once per
 * connection which of those the target answers. The transport sends a
 * list through the ask callback; unit tests send it to a scripted fake.
 * Must not include <curl/curl.h>: the transport owns the connection.
 * Every command comes from quote.h and every name from rpath.h.
 */
#ifndef RFTP_FTPCMDS_H
#define RFTP_FTPCMDS_H

#include "common/buf.h"
#include "common/hash.h"
#include "common/limits.h"
#include "mirror/quote.h"
#include "mirror/transport.h"

#include <stdint.h>
#include <time.h>

/* A remote path with the URL folder and login folder in front. */
#define FTPC_FULL_MAX (RFTP_PATH_MAX + 1100)

struct ftpc {
	/* Set by the transport. */
	void *ctx;
	/* Logs in if this connection has not yet, so the login folder is
	 * known (ftpc_set_entry). 0, or -1 with res->error. */
	int (*login)(void *ctx, struct push_result *res);
	/* Sends the NUL-separated commands of cmds as one request (a leading
	 * '*' lets a command fail). 0 when all succeeded; -1 with res->error
	 * and res->refused set if the target answered no (1) or the link
	 * failed (0). */
	int (*ask)(void *ctx, const struct buf *cmds, const char *what,
	    struct push_result *res);
	/* The control replies of the last request, NUL-terminated. */
	const char *(*replies)(void *ctx);
	const atomic_int *stop; /* the daemon stops: a local digest ends */
	int sftp;
	char base[1024]; /* URL path, decoded, without trailing '/' */
	/* Learnt on the connection. */
	char entry[1024]; /* the FTP login folder (PWD after login) */
	int entry_ok;     /* 0: the target's PWD did not fit entry */
	int entry_known;  /* entry was learnt on this connection's login */
	int hash_method;  /* ftpc_digest: -1 unknown, 0-2 works, 3 none */
	/* The last ask's replies end with its commands' (set by the ask
	 * callback: nothing was sent after them, such as a CWD). */
	int ask_ends_replies;
	enum time_method time_method;
	char qbuf[2][FTPC_FULL_MAX]; /* ftpc_quote_path results */
	/* One quote command: two paths, each at most doubled by escapes. */
	char cmd[4 * FTPC_FULL_MAX + 64];
};

/* Clears c's learnt state; the caller then sets ctx, the callbacks and
 * base. */
void ftpc_init(struct ftpc *c, int sftp);
/* The login folder the target reported (NULL: none). */
void ftpc_set_entry(struct ftpc *c, const char *entry);

/*
 * The form of path (URL folder included) a QUOTE command names: SFTP the
 * path itself; FTP the login folder in front, because an FTP URL path is
 * relative to it and a reused connection may sit elsewhere. slot picks
 * one of two buffers. NULL if the login folder is unknown or the result
 * does not fit (ftpc_add then refuses the command).
 */
const char *ftpc_quote_path(struct ftpc *c, const char *path, int slot);
/* 0 if rpath fits every buffer a target's names are built in, else -1
 * with res->error and res->blocked (parked: no retry changes a length):
 * refused before anything is sent. */
int ftpc_path_fits(
    const struct ftpc *c, const char *rpath, struct push_result *res);
/* out = a b; -1 with res->error if it does not fit. */
int ftpc_join(char *out, size_t outlen, const char *a, const char *b,
    struct push_result *res);
/* The temporary name of (rpath, tag) under the URL folder; -1 with
 * res->error if it does not fit. */
int ftpc_tmp_name(const struct ftpc *c, const char *rpath, int64_t tag,
    char *out, size_t outlen, struct push_result *res);
/* Appends "verb a [b]" (quote.h) to cmds; a NULL a (ftpc_quote_path
 * failed) is refused as too long. 0, or -1 with res->error. */
int ftpc_add(struct ftpc *c, struct buf *cmds, const char *verb, const char *a,
    const char *b, struct push_result *res);
/* A list for ftpc_add and the ask callback; buf_free it. */
void ftpc_cmds_init(struct buf *cmds);

/* The steps and calls of transport.h, over c's ask callback. */
/*
 * The temporary copy of (rpath, tag) renamed over rpath. FTP, size >= 0
 * (the bytes the copy was verified at): the final name's SIZE, asked in
 * the same request, must then be size, else -1 with res->mismatch (an
 * RNTO answered 250 proves no rename). size -1 (verify = none, for a
 * target that refuses SIZE) and SFTP: the rename's answer stands.
 */
int ftpc_publish(struct ftpc *c, const char *rpath, int64_t tag, int64_t size,
    struct push_result *res);
/* The same for the temporary copy of (from, tag) (from is another path:
 * a stream's copy, stream.h). */
int ftpc_publish_from(struct ftpc *c, const char *from, int64_t tag,
    const char *rpath, int64_t size, struct push_result *res);
int ftpc_delete(struct ftpc *c, const char *rpath, struct push_result *res);
int ftpc_rename(
    struct ftpc *c, const char *from, const char *to, struct push_result *res);
int ftpc_rmdir(struct ftpc *c, const char *rpath, struct push_result *res);
/* transport_discard's contract (transport.h): 0, 1 or -1. */
int ftpc_discard(struct ftpc *c, const char *rpath, int64_t tag);
enum time_result ftpc_set_time(
    struct ftpc *c, const char *rpath, time_t mtime, struct push_result *res);
/*
 * Asks the target for a digest of qpath (an ftpc_quote_path result):
 * XSHA256, else HASH (whatever algorithm it picks), else XMD5; the first
 * that answers is remembered for the connection. Returns 1 with *algo and
 * hex, 0 if the target offers none, -1 if the connection failed (res).
 */
int ftpc_digest(struct ftpc *c, const char *qpath, enum hash_algo *algo,
    char hex[HASH_HEX_MAX], struct push_result *res);
/*
 * Compares the target's digest of tmp (the temporary copy, URL folder
 * included) with fd's; 0 when they agree, or when the target offers no
 * digest (res->fell_back set: the size check stands alone); -1 with
 * res->error. SFTP has no digest command: always the fall-back.
 */
int ftpc_verify_hash(
    struct ftpc *c, int fd, const char *tmp, struct push_result *res);

#endif
