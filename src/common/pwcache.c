/*
 * pwcache.c - the verified-credential cache (see pwcache.h for the contract).
 *
 * Owns: the per-process keys, the entry table, its name index and its LRU
 * list. It includes <sodium.h> beside users.c (scripts/check-layers.sh
 * names both): the keys and digests are secrets that must stay in this one
 * file rather than be handed to the user store, and the only primitives used
 * are libsodium's keyed BLAKE2b, SipHash, constant-time compare, wiping and
 * guarded allocation. Must not: verify argon2id, read users.ini or log
 * anything about a password.
 *
 * An entry is found by name through a SipHash-keyed bucket index (a client
 * cannot pick names that collide), kept on a doubly linked LRU list by
 * index, and wiped with sodium_memzero whenever it is dropped.
 */
#include "common/pwcache.h"

#include "common/limits.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NONE UINT32_MAX
/* A digest of 32 bytes: forging one means finding a BLAKE2b preimage under
 * an unknown key. The binding to the stored hash needs only to tell two
 * hash strings apart, so half of that is plenty. */
#define DIGEST_BYTES 32
#define BIND_BYTES   16
/* Domain separation between the two digests made with the same key. */
#define TAG_DIGEST "relayftpd pwcache digest v1"
#define TAG_BIND   "relayftpd pwcache bind v1"

struct entry {
	char name[RFTP_USER_MAX + 1]; /* "" = free slot */
	unsigned char bind[BIND_BYTES];
	unsigned char digest[DIGEST_BYTES];
	uint64_t stamp;      /* clock at the argon2id check */
	uint32_t prev, next; /* LRU list (head = most recent) or free list */
	uint32_t hnext;      /* next in the same bucket */
};

struct keys {
	unsigned char mac[crypto_generichash_KEYBYTES];
	unsigned char index[crypto_shorthash_KEYBYTES];
};

struct pwcache {
	pthread_mutex_t lock;
	uint64_t ttl;
	pwcache_clock_fn clock;
	struct keys *keys; /* sodium_malloc'd */
	struct entry *e;   /* sodium_malloc'd, cap entries */
	uint32_t *bucket;  /* nbuckets heads (indices, not secret) */
	uint32_t cap, nbuckets, count;
	uint32_t head, tail; /* LRU list */
	uint32_t free_head;  /* free slots, linked through next */
};

static uint64_t
boottime_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

struct pwcache *
pwcache_new(size_t entries, uint64_t ttl, pwcache_clock_fn clock)
{
	struct pwcache *c;

	/* Indices are 32-bit with one value kept for NONE. */
	if (entries == 0 || entries >= NONE / 2 || sodium_init() < 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->ttl = ttl;
	c->clock = clock != NULL ? clock : boottime_seconds;
	c->cap = (uint32_t)entries;
	c->nbuckets = 1;
	while (c->nbuckets < c->cap)
		c->nbuckets *= 2;
	c->keys = sodium_malloc(sizeof(*c->keys));
	c->e = sodium_allocarray(c->cap, sizeof(*c->e));
	c->bucket = malloc(c->nbuckets * sizeof(*c->bucket));
	if (c->keys == NULL || c->e == NULL || c->bucket == NULL) {
		pwcache_free(c);
		return NULL;
	}
	randombytes_buf(c->keys, sizeof(*c->keys));
	memset(c->e, 0, c->cap * sizeof(*c->e));
	for (uint32_t i = 0; i < c->nbuckets; i++)
		c->bucket[i] = NONE;
	c->head = c->tail = NONE;
	for (uint32_t i = 0; i < c->cap; i++)
		c->e[i].next = i + 1 < c->cap ? i + 1 : NONE;
	c->free_head = 0;
	return c;
}

void
pwcache_free(struct pwcache *c)
{
	if (c == NULL)
		return;
	/* sodium_free wipes the block before it unmaps it. */
	sodium_free(c->e);
	sodium_free(c->keys);
	free(c->bucket);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void
update_str(crypto_generichash_state *st, const char *s)
{
	/* The terminating NUL separates the fields: none of them (a name,
	 * a hash string, a C-string password) can hold one. */
	crypto_generichash_update(st, (const unsigned char *)s, strlen(s) + 1);
}

static void
make_bind(const struct pwcache *c, const char *name, const char *stored_hash,
    unsigned char out[BIND_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(
	    &st, c->keys->mac, sizeof(c->keys->mac), BIND_BYTES);
	update_str(&st, TAG_BIND);
	update_str(&st, name);
	update_str(&st, stored_hash);
	crypto_generichash_final(&st, out, BIND_BYTES);
	sodium_memzero(&st, sizeof(st));
}

static void
make_digest(const struct pwcache *c, const char *name, const char *stored_hash,
    const char *password, unsigned char out[DIGEST_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(
	    &st, c->keys->mac, sizeof(c->keys->mac), DIGEST_BYTES);
	update_str(&st, TAG_DIGEST);
	update_str(&st, name);
	update_str(&st, stored_hash);
	update_str(&st, password);
	crypto_generichash_final(&st, out, DIGEST_BYTES);
	/* The state held the password in its block buffer. */
	sodium_memzero(&st, sizeof(st));
}

static uint32_t
bucket_of(const struct pwcache *c, const char *name)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(
	    h, (const unsigned char *)name, strlen(name), c->keys->index);
	memcpy(&v, h, sizeof(v));
	return (uint32_t)(v & (c->nbuckets - 1));
}

/* Called with the lock held. */
static uint32_t
find(const struct pwcache *c, const char *name, uint32_t b)
{
	for (uint32_t i = c->bucket[b]; i != NONE; i = c->e[i].hnext)
		if (strcmp(c->e[i].name, name) == 0)
			return i;
	return NONE;
}

static void
lru_unlink(struct pwcache *c, uint32_t i)
{
	struct entry *e = &c->e[i];

	if (e->prev != NONE)
		c->e[e->prev].next = e->next;
	else
		c->head = e->next;
	if (e->next != NONE)
		c->e[e->next].prev = e->prev;
	else
		c->tail = e->prev;
}

static void
lru_push_front(struct pwcache *c, uint32_t i)
{
	c->e[i].prev = NONE;
	c->e[i].next = c->head;
	if (c->head != NONE)
		c->e[c->head].prev = i;
	c->head = i;
	if (c->tail == NONE)
		c->tail = i;
}

/* Unlinks entry i everywhere, wipes it and returns its slot to the free
 * list. Called with the lock held. */
static void
drop(struct pwcache *c, uint32_t i)
{
	uint32_t b = bucket_of(c, c->e[i].name);
	uint32_t *link = &c->bucket[b];

	while (*link != i)
		link = &c->e[*link].hnext;
	*link = c->e[i].hnext;
	lru_unlink(c, i);
	sodium_memzero(&c->e[i], sizeof(c->e[i]));
	c->e[i].next = c->free_head;
	c->free_head = i;
	c->count--;
}

static int
expired(const struct pwcache *c, const struct entry *e, uint64_t now)
{
	/* A clock that went back cannot make an entry young again. */
	return now < e->stamp || now - e->stamp >= c->ttl;
}

int
pwcache_check(struct pwcache *c, const char *name, const char *stored_hash,
    const char *password)
{
	unsigned char digest[DIGEST_BYTES], bind[BIND_BYTES];
	uint32_t i;
	int hit = 0;

	if (c == NULL || c->ttl == 0)
		return 0;
	make_digest(c, name, stored_hash, password, digest);
	make_bind(c, name, stored_hash, bind);
	pthread_mutex_lock(&c->lock);
	i = find(c, name, bucket_of(c, name));
	if (i != NONE) {
		struct entry *e = &c->e[i];

		if (expired(c, e, c->clock()) ||
		    sodium_memcmp(e->bind, bind, BIND_BYTES) != 0) {
			drop(c, i);
		} else if (sodium_memcmp(e->digest, digest, DIGEST_BYTES) ==
		    0) {
			hit = 1;
			lru_unlink(c, i);
			lru_push_front(c, i);
		}
		/* A wrong password leaves the entry alone: guessing must
		 * not cost the real user an argon2id check. */
	}
	pthread_mutex_unlock(&c->lock);
	sodium_memzero(digest, sizeof(digest));
	return hit;
}

int
pwcache_store(struct pwcache *c, const char *name, const char *stored_hash,
    const char *password)
{
	unsigned char digest[DIGEST_BYTES], bind[BIND_BYTES];
	uint32_t b, i;

	if (c == NULL || c->ttl == 0 || name[0] == '\0' ||
	    strlen(name) > RFTP_USER_MAX)
		return -1;
	make_digest(c, name, stored_hash, password, digest);
	make_bind(c, name, stored_hash, bind);
	pthread_mutex_lock(&c->lock);
	b = bucket_of(c, name);
	i = find(c, name, b);
	if (i != NONE) {
		lru_unlink(c, i);
	} else {
		if (c->free_head == NONE)
			drop(c, c->tail);
		i = c->free_head;
		c->free_head = c->e[i].next;
		memcpy(c->e[i].name, name, strlen(name) + 1);
		c->e[i].hnext = c->bucket[b];
		c->bucket[b] = i;
		c->count++;
	}
	memcpy(c->e[i].bind, bind, BIND_BYTES);
	memcpy(c->e[i].digest, digest, DIGEST_BYTES);
	c->e[i].stamp = c->clock();
	lru_push_front(c, i);
	pthread_mutex_unlock(&c->lock);
	sodium_memzero(digest, sizeof(digest));
	return 0;
}

void
pwcache_retain(struct pwcache *c, pwcache_hash_fn current_hash, void *ctx)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	for (uint32_t i = c->head, next; i != NONE; i = next) {
		const char *hash = current_hash(ctx, c->e[i].name);
		unsigned char bind[BIND_BYTES];

		next = c->e[i].next;
		if (hash != NULL) {
			make_bind(c, c->e[i].name, hash, bind);
			if (sodium_memcmp(bind, c->e[i].bind, BIND_BYTES) == 0)
				continue;
		}
		drop(c, i);
	}
	pthread_mutex_unlock(&c->lock);
}

size_t
pwcache_count(struct pwcache *c)
{
	size_t n;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->lock);
	n = c->count;
	pthread_mutex_unlock(&c->lock);
	return n;
}
