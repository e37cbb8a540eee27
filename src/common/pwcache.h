/*
 * pwcache.h - the verified-credential cache: skips argon2id for a password
 * that passed it a short while ago.
 *
 * Owns: a bounded (LRU), time-limited (TTL) map from a user name to a keyed
 * BLAKE2b digest of (name, stored argon2id string, password), its random
 * per-process key, and wiping what it forgets. It stores no password and no
 * hash string. It must not decide whether a login is good on its own: the
 * user store (users.c) asks it first and stores into it only after argon2id
 * said yes; a miss always falls back to argon2id.
 *
 * Binding the digest to the stored hash string means a changed hash in
 * users.ini can never match an old entry, even before pwcache_retain runs.
 * All functions are thread-safe. A cache with ttl 0 is off: it remembers
 * nothing and every check misses.
 */
#ifndef RFTP_PWCACHE_H
#define RFTP_PWCACHE_H

#include <stddef.h>
#include <stdint.h>

struct pwcache;

/* Monotonic seconds; tests inject their own clock. */
typedef uint64_t (*pwcache_clock_fn)(void);

/*
 * A cache of at most entries users (>= 1) whose entries live ttl seconds from
 * the argon2id check that made them (a hit does not extend them). clock NULL
 * = CLOCK_BOOTTIME, so time asleep counts. The key and the entries live in
 * sodium_malloc'd memory (guard pages, mlock'd where the limit allows).
 * Returns NULL if out of memory or if libsodium cannot start; free with
 * pwcache_free, which wipes everything.
 */
struct pwcache *pwcache_new(
    size_t entries, uint64_t ttl, pwcache_clock_fn clock);
void pwcache_free(struct pwcache *c);

/*
 * 1 if name's entry is younger than the ttl and was stored for this exact
 * stored_hash and password, else 0. Always computes the digest, so the work
 * does not depend on whether name has an entry. An expired entry, or one
 * stored for another hash (users.ini changed), is wiped on the way.
 */
int pwcache_check(struct pwcache *c, const char *name, const char *stored_hash,
    const char *password);

/*
 * Remembers that password matched stored_hash for name; call only after a
 * successful argon2id verification. Replaces name's previous entry; when
 * full, wipes the least recently used one. Returns 0, or -1 if the cache is
 * off or name is longer than RFTP_USER_MAX (nothing stored).
 */
int pwcache_store(struct pwcache *c, const char *name, const char *stored_hash,
    const char *password);

/* Returns name's current stored hash string, or NULL if it has none. */
typedef const char *(*pwcache_hash_fn)(void *ctx, const char *name);

/*
 * After users.ini was reloaded: wipes every entry whose user is gone
 * (current_hash returns NULL) or whose stored hash changed. current_hash is
 * called with the cache's lock held and must not call back into it.
 */
void pwcache_retain(struct pwcache *c, pwcache_hash_fn current_hash, void *ctx);

/* Entries held now (expired ones not yet wiped included); for tests. */
size_t pwcache_count(struct pwcache *c);

#endif
