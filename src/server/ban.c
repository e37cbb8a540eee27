/*
 * ban.c - see ban.h. A linear table under one mutex: it is touched only at
 * connect and at a failed login, and holds at most BAN_SLOTS addresses.
 */
#include "server/ban.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BAN_SLOTS 4096

struct ban_slot {
	unsigned char ip[16];
	int used;
	uint64_t window_start; /* ms, monotonic */
	uint64_t failures;     /* within the window */
	uint64_t banned_until;
	uint64_t last_seen;
};

struct bans {
	pthread_mutex_t lock;
	uint64_t max, window, ban; /* window and ban in ms */
	struct ban_slot slots[BAN_SLOTS];
};

/* Milliseconds: a ban of N seconds lasts N seconds, not N-1 and a bit. */
static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The address as 16 bytes (IPv4 as v4-mapped IPv6). */
static void
key_of(const struct sockaddr_storage *a, unsigned char out[16])
{
	memset(out, 0, 16);
	if (a->ss_family == AF_INET) {
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)a)->sin_addr, 4);
	} else {
		memcpy(out, &((const struct sockaddr_in6 *)a)->sin6_addr, 16);
	}
}

struct bans *
bans_new(uint64_t max, uint64_t window_s, uint64_t ban_s)
{
	struct bans *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	pthread_mutex_init(&b->lock, NULL);
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
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* Called with the lock held. create: reuse the stalest slot if needed. */
static struct ban_slot *
find(struct bans *b, const unsigned char ip[16], int create)
{
	struct ban_slot *oldest = &b->slots[0];

	for (size_t i = 0; i < BAN_SLOTS; i++) {
		struct ban_slot *s = &b->slots[i];

		if (s->used && memcmp(s->ip, ip, 16) == 0)
			return s;
		if (!s->used ||
		    (oldest->used && s->last_seen < oldest->last_seen))
			oldest = s;
	}
	if (!create)
		return NULL;
	memset(oldest, 0, sizeof(*oldest));
	memcpy(oldest->ip, ip, 16);
	oldest->used = 1;
	return oldest;
}

int
bans_fail(struct bans *b, const struct sockaddr_storage *addr)
{
	unsigned char ip[16];
	struct ban_slot *s;
	uint64_t now = now_ms();
	int banned = 0;

	if (b == NULL || b->max == 0)
		return 0;
	key_of(addr, ip);
	pthread_mutex_lock(&b->lock);
	s = find(b, ip, 1);
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
	pthread_mutex_unlock(&b->lock);
	return banned;
}

int
bans_check(struct bans *b, const struct sockaddr_storage *addr)
{
	unsigned char ip[16];
	struct ban_slot *s;
	int banned = 0;

	if (b == NULL || b->max == 0)
		return 0;
	key_of(addr, ip);
	pthread_mutex_lock(&b->lock);
	s = find(b, ip, 0);
	if (s != NULL && s->banned_until > now_ms())
		banned = 1;
	pthread_mutex_unlock(&b->lock);
	return banned;
}
