/*
 * ban.c - see ban.h. A linear table under one mutex: it is touched only at
 * connect and at a failed login, and holds at most BAN_SLOTS entries.
 *
 * An entry is one IPv4 address or one IPv6 /64: a single IPv6 host is
 * routinely given a whole /64, so counting per IPv6 address would let one
 * attacker try 2^64 addresses, each with a fresh count. Eviction picks
 * the entry seen longest ago among those not banned now, never an active
 * ban: otherwise a flood of new addresses (cheap in IPv6) would push the
 * attacker's own ban out of the table and lift it.
 *
 * Slots are taken in index order and never emptied (only reused), so a
 * look-up scans the `inuse` slots taken so far, not the whole table: every
 * login checks its address, and on a server without attackers the table
 * holds a handful of entries.
 */
#include "server/ban.h"

#include "common/clock.h"
#include "common/log.h"

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BAN_SLOTS 4096
/* How often a login waiting for others' checks looks at the stop fd. */
#define BAN_LOOK_MS 50

struct ban_slot {
	/* ban_addr_key's, as two words: the scan compares often. */
	uint64_t key[2];
	uint64_t window_start; /* ms, monotonic */
	uint64_t failures;     /* within the window */
	uint64_t banned_until;
	uint64_t last_seen;
	uint64_t pending; /* logins being checked now (bans_begin) */
};

struct bans {
	pthread_mutex_t lock;
	pthread_cond_t ended;      /* a login's check ended (bans_end) */
	uint64_t max, window, ban; /* window and ban in ms */
	uint64_t untracked; /* failures not counted: table full of bans */
	size_t inuse;       /* slots[0..inuse) are used, the rest never were */
	struct ban_slot slots[BAN_SLOTS];
};

void
ban_addr_key(
    const struct sockaddr_storage *a, int whole_v6, unsigned char out[16])
{
	memset(out, 0, 16);
	if (a->ss_family == AF_INET) {
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)a)->sin_addr, 4);
	} else {
		const struct in6_addr *ip6 =
		    &((const struct sockaddr_in6 *)a)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(ip6) || whole_v6)
			memcpy(out, ip6, 16);
		else
			memcpy(out, ip6, 8);
	}
}

struct bans *
bans_new(uint64_t max, uint64_t window_s, uint64_t ban_s)
{
	struct bans *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	pthread_mutex_init(&b->lock, NULL);
	clock_cond_init(&b->ended);
	b->max = max;
	b->window = window_s * 1000;
	b->ban = ban_s * 1000;
	return b;
}

void
bans_free(struct bans *b)
{
	if (b == NULL)
		return;
	pthread_cond_destroy(&b->ended);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/*
 * Called with the lock held. create: take a free slot, else reuse the one
 * seen longest ago that is not banned now. Returns NULL if the key is not
 * there (and, with create, when every slot is an active ban: the new key
 * goes uncounted rather than any ban being lifted).
 */
static struct ban_slot *
find(struct bans *b, const unsigned char ip[16], int create, uint64_t now)
{
	struct ban_slot *victim = NULL;
	uint64_t key[2];

	memcpy(key, ip, sizeof(key));
	for (size_t i = 0; i < b->inuse; i++) {
		struct ban_slot *s = &b->slots[i];

		if (s->key[0] == key[0] && s->key[1] == key[1])
			return s;
		if (s->banned_until <= now && s->pending == 0 &&
		    (victim == NULL || s->last_seen < victim->last_seen))
			victim = s;
	}
	if (!create)
		return NULL;
	if (b->inuse < BAN_SLOTS)
		victim = &b->slots[b->inuse++];
	else if (victim == NULL)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->key, key, sizeof(key));
	return victim;
}

/* Takes the lock and finds addr's slot as find does. Returns -1, without
 * the lock, when banning is off. */
static int
lock_slot(struct bans *b, const struct sockaddr_storage *addr, int create,
    uint64_t now, struct ban_slot **s)
{
	unsigned char ip[16];

	if (b == NULL || b->max == 0)
		return -1;
	ban_addr_key(addr, 0, ip);
	pthread_mutex_lock(&b->lock);
	*s = find(b, ip, create, now);
	return 0;
}

/* The failures of s that count now (its window not over). */
static uint64_t
failures_now(const struct bans *b, const struct ban_slot *s, uint64_t now)
{
	return now - s->window_start >= b->window ? 0 : s->failures;
}

/* Whether stop_fd (-1: none) is readable. */
static int
stopping(int stop_fd)
{
	struct pollfd pf = { stop_fd, POLLIN, 0 };

	return stop_fd >= 0 && poll(&pf, 1, 0) > 0;
}

int
bans_begin(struct bans *b, const struct sockaddr_storage *addr, int stop_fd)
{
	struct ban_slot *s;
	uint64_t now = clock_mono_ms();
	unsigned char ip[16];
	int rc = 0;

	if (lock_slot(b, addr, 1, now, &s) < 0)
		return 0;
	ban_addr_key(addr, 0, ip);
	for (;;) {
		struct timespec until;

		now = clock_mono_ms();
		if (s == NULL)
			break; /* every slot an active ban: not counted */
		if (s->banned_until > now) {
			rc = 1;
			break;
		}
		if (failures_now(b, s, now) + s->pending < b->max) {
			s->pending++;
			s->last_seen = now;
			break;
		}
		if (stopping(stop_fd)) {
			rc = -1;
			break;
		}
		until = clock_mono_after(BAN_LOOK_MS);
		(void)pthread_cond_timedwait(&b->ended, &b->lock, &until);
		/* Looked up again: the slot may have been reused while
		 * the lock was not held. */
		s = find(b, ip, 1, clock_mono_ms());
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static int fail_locked(struct bans *b, struct ban_slot *s, uint64_t now);

int
bans_end(struct bans *b, const struct sockaddr_storage *addr, int failed)
{
	struct ban_slot *s;
	uint64_t now = clock_mono_ms();
	int banned = 0;

	if (lock_slot(b, addr, failed, now, &s) < 0)
		return 0;
	if (s != NULL && s->pending > 0)
		s->pending--;
	/* Under the same hold: a waiter must not see the check gone before
	 * its failure counts. */
	if (failed)
		banned = fail_locked(b, s, now);
	pthread_cond_broadcast(&b->ended);
	pthread_mutex_unlock(&b->lock);
	return banned;
}

int
bans_fail(struct bans *b, const struct sockaddr_storage *addr)
{
	struct ban_slot *s;
	uint64_t now = clock_mono_ms();
	int banned;

	if (lock_slot(b, addr, 1, now, &s) < 0)
		return 0;
	banned = fail_locked(b, s, now);
	pthread_mutex_unlock(&b->lock);
	return banned;
}

/* One failure for the slot s (NULL: not counted), lock held; 1 if the
 * address is banned now. */
static int
fail_locked(struct bans *b, struct ban_slot *s, uint64_t now)
{
	int banned = 0;

	if (s == NULL) {
		/* Rate-limited: a flood could make this every login. */
		if (b->untracked++ % 1000 == 0)
			log_warn("login failure not counted: all %d ban slots "
			         "hold active bans (%llu so far)",
			    BAN_SLOTS, (unsigned long long)b->untracked);
		return 0;
	}
	if (now - s->window_start >= b->window || s->failures == 0) {
		s->window_start = now;
		s->failures = 0;
	}
	s->failures++;
	s->last_seen = now;
	if (s->failures >= b->max) {
		s->banned_until = now + b->ban;
		s->failures = 0;
		banned = 1;
	}
	return banned;
}

uint64_t
bans_active(struct bans *b)
{
	uint64_t now = clock_mono_ms(), n = 0;

	if (b == NULL || b->max == 0)
		return 0;
	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < b->inuse; i++)
		n += b->slots[i].banned_until > now;
	pthread_mutex_unlock(&b->lock);
	return n;
}

int
bans_check(struct bans *b, const struct sockaddr_storage *addr)
{
	struct ban_slot *s;
	uint64_t now = clock_mono_ms();
	int banned = 0;

	if (lock_slot(b, addr, 0, now, &s) < 0)
		return 0;
	if (s != NULL && s->banned_until > now)
		banned = 1;
	pthread_mutex_unlock(&b->lock);
	return banned;
}
