/*
 * hash.c - digests over OpenSSL EVP and zlib's crc32. See hash.h.
 */
#include "common/hash.h"

#include "common/limits.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

static const char *const hash_names[HASH_ALGO_COUNT] = {
	[HASH_SHA256] = "SHA-256",
	[HASH_SHA1] = "SHA-1",
	[HASH_MD5] = "MD5",
	[HASH_CRC32] = "CRC32",
};

const char *
hash_name(enum hash_algo algo)
{
	return hash_names[algo];
}

int
hash_lookup(const char *name, enum hash_algo *out)
{
	for (int i = 0; i < HASH_ALGO_COUNT; i++) {
		if (strcasecmp(name, hash_names[i]) == 0) {
			*out = (enum hash_algo)i;
			return 0;
		}
	}
	return -1;
}

static const EVP_MD *
hash_md(enum hash_algo algo)
{
	switch (algo) {
	case HASH_SHA256:
		return EVP_sha256();
	case HASH_SHA1:
		return EVP_sha1();
	case HASH_MD5:
		return EVP_md5();
	case HASH_CRC32:
	case HASH_ALGO_COUNT:
		break;
	}
	return NULL;
}

int
hash_init(struct hash_ctx *h, enum hash_algo algo)
{
	const EVP_MD *md;

	h->algo = algo;
	h->evp = NULL;
	h->crc = crc32(0L, Z_NULL, 0);
	if (algo == HASH_CRC32)
		return 0;
	md = hash_md(algo);
	if (md == NULL)
		return -1;
	h->evp = EVP_MD_CTX_new();
	if (h->evp == NULL)
		return -1;
	if (EVP_DigestInit_ex(h->evp, md, NULL) != 1) {
		EVP_MD_CTX_free(h->evp);
		h->evp = NULL;
		return -1;
	}
	return 0;
}

void
hash_update(struct hash_ctx *h, const void *p, size_t n)
{
	if (h->algo == HASH_CRC32) {
		/* crc32 takes uInt lengths; feed large blocks in pieces. */
		const unsigned char *c = p;

		while (n > 0) {
			uInt part = n > 0x40000000u ? 0x40000000u : (uInt)n;

			h->crc = crc32(h->crc, c, part);
			c += part;
			n -= part;
		}
		return;
	}
	EVP_DigestUpdate(h->evp, p, n);
}

int
hash_final(struct hash_ctx *h, char hex[HASH_HEX_MAX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int rc;

	if (h->algo == HASH_CRC32) {
		snprintf(hex, HASH_HEX_MAX, "%08lx", h->crc & 0xffffffffUL);
		return 0;
	}
	rc = EVP_DigestFinal_ex(h->evp, md, &mdlen) == 1 ? 0 : -1;
	EVP_MD_CTX_free(h->evp);
	h->evp = NULL;
	if (rc < 0 || mdlen * 2 + 1 > HASH_HEX_MAX)
		return -1;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

void
hash_abandon(struct hash_ctx *h)
{
	if (h->evp != NULL)
		EVP_MD_CTX_free(h->evp);
	h->evp = NULL;
}

int
hash_fd(int fd, enum hash_algo algo, uint64_t start, uint64_t end,
    const atomic_int *stop, char hex[HASH_HEX_MAX])
{
	struct hash_ctx h;
	unsigned char *block;
	uint64_t off = start;
	int rc = -1;

	block = malloc(RFTP_XFER_BUF);
	if (block == NULL)
		return -1;
	if (hash_init(&h, algo) < 0)
		goto out;
	while (off < end) {
		size_t want = RFTP_XFER_BUF;
		ssize_t n;

		if (end - off < want)
			want = (size_t)(end - off);
		if (stop != NULL && atomic_load(stop)) {
			hash_abandon(&h);
			errno = ECANCELED;
			goto out;
		}
		n = pread(fd, block, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			hash_abandon(&h);
			goto out;
		}
		if (n == 0)
			break;
		hash_update(&h, block, (size_t)n);
		off += (uint64_t)n;
	}
	rc = hash_final(&h, hex);
out:
	free(block);
	return rc;
}
