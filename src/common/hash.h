/*
 * hash.h - file digests for HASH/XMD5/XSHA* (draft-bryan-ftpext-hash).
 *
 * Owns: the algorithm list and streaming digest contexts. MD5/SHA come from
 * OpenSSL's EVP API and CRC32 from zlib; we write none of them ourselves.
 */
#ifndef RFTP_HASH_H
#define RFTP_HASH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum hash_algo {
	HASH_SHA256,
	HASH_SHA1,
	HASH_MD5,
	HASH_CRC32,
	HASH_ALGO_COUNT,
};

/* Longest hex digest (SHA-256) plus NUL. */
#define HASH_HEX_MAX 65

struct hash_ctx {
	enum hash_algo algo;
	void *evp; /* EVP_MD_CTX *, NULL for CRC32 */
	unsigned long crc;
};

/* Name as used on the wire ("SHA-256"); case-insensitive lookup. */
const char *hash_name(enum hash_algo algo);
int hash_lookup(const char *name, enum hash_algo *out);
/* Starts a digest; returns -1 if the library refused. hash_final or
 * hash_abandon must follow to release it. */
int hash_init(struct hash_ctx *h, enum hash_algo algo);
void hash_update(struct hash_ctx *h, const void *p, size_t n);
/* Writes lowercase hex into hex (HASH_HEX_MAX bytes) and frees the context. */
int hash_final(struct hash_ctx *h, char hex[HASH_HEX_MAX]);
void hash_abandon(struct hash_ctx *h);
/* Digests bytes [start, end) of an open file (end = UINT64_MAX: to EOF).
 * stop (NULL: none) is looked at between blocks: once set, -1 with errno
 * ECANCELED (a shutdown waited for the digest of a 60 GiB file). */
int hash_fd(int fd, enum hash_algo algo, uint64_t start, uint64_t end,
    const atomic_int *stop, char hex[HASH_HEX_MAX]);

#endif
