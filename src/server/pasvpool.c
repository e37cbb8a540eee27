/*
 * pasvpool.c - see pasvpool.h.
 *
 * One mutex guards a byte per port (ours listening or not), the time until
 * which a port held by another program is skipped, and a FIFO of waiting
 * sessions. Ports are handed out round-robin from a random start, so a
 * port just given back is the last to be reused. The bind() itself runs
 * outside the lock, with the port already marked ours, so no two sessions
 * ever try the same port.
 *
 * Waiting is first come first served: each waiter sleeps on its own
 * condition variable in a queue and only the head may take a port, so a
 * PASV that just arrived cannot overtake one that has waited (under
 * sustained load a barging newcomer could otherwise starve a waiter until
 * its deadline and turn into the very 425 this pool exists to avoid).
 */
#include "server/pasvpool.h"

#include "common/clock.h"
#include "common/log.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* How long a port another program holds is left alone before a retry. */
#define FOREIGN_SKIP_MS 10000
/* A head waiter looks again this often when ports are only skipped (not
 * ours), since no give-back will wake it for those. */
#define RECHECK_MS 1000

struct waiter {
	pthread_cond_t cond;
	struct waiter *next;
};

/* Random ports tried before the kernel is asked to pick one. */
#define EPHEMERAL_TRIES 8
/* A listener's accept queue. The session takes what connects as it comes
 * (datachan.c dc_weed) and turns strangers away; room for a burst of
 * theirs keeps the client's own connect from being dropped meanwhile (a
 * queue of one was full with two strangers' connections). */
#define PASV_BACKLOG 16

struct pasvpool {
	pthread_mutex_t lock;
	/* No range: the kernel's ephemeral range, picked from by us (0: let
	 * the kernel pick, as when ports are reserved in it) */
	uint16_t eph_lo, eph_hi;
	uint16_t lo;
	unsigned span;        /* ports in the range; 0: ephemeral, no pool */
	unsigned char *ours;  /* per port: our listener is open on it */
	uint64_t *skip_until; /* per port: ms; another program holds it */
	unsigned nours;
	unsigned cursor; /* next port index to try */
	struct waiter *head, *tail;
	int stopping;
};

/* A small /proc file into buf (NUL-terminated, len > 1); 0 or -1. */
static int
read_small(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

/* "LO<ws>HI" of ip_local_port_range: 0 with *a..*b, or -1. */
static int
parse_port_range(const char *range, unsigned long *a, unsigned long *b)
{
	char *end;

	if (range == NULL)
		return -1;
	errno = 0;
	*a = strtoul(range, &end, 10);
	if (errno != 0 || end == range)
		return -1;
	range = end;
	*b = strtoul(range, &end, 10);
	if (errno != 0 || end == range || end[strspn(end, " \t\n")] != '\0' ||
	    *a < 1024 || *b > 65535 || *a > *b)
		return -1;
	return 0;
}

int
pasvpool_ephemeral_range(
    const char *range, const char *reserved, uint16_t *lo, uint16_t *hi)
{
	unsigned long a, b;

	*lo = *hi = 0;
	/* Reserved ports (ip-sysctl: ip_local_reserved_ports) are skipped
	 * by the kernel's own pick; a pick of ours would not know them. */
	if (reserved == NULL || reserved[strspn(reserved, " \t\n")] != '\0' ||
	    parse_port_range(range, &a, &b) < 0)
		return -1;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

/* Whether port is in the ip_local_reserved_ports text ("8080,50000-50100",
 * possibly empty): 1, 0, or -1 when the text cannot be read. */
static int
port_reserved(const char *reserved, unsigned long port)
{
	const char *s = reserved + strspn(reserved, " \t\n");

	while (*s != '\0') {
		unsigned long a, b;
		char *end;

		errno = 0;
		a = strtoul(s, &end, 10);
		if (errno != 0 || end == s || a > 65535)
			return -1;
		b = a;
		if (*end == '-') {
			s = end + 1;
			b = strtoul(s, &end, 10);
			if (errno != 0 || end == s || b > 65535 || b < a)
				return -1;
		}
		if (port >= a && port <= b)
			return 1;
		s = end + strspn(end, " \t\n");
		if (*s == ',')
			s++;
		else if (*s != '\0')
			return -1;
	}
	return 0;
}

int
pasvpool_ephemeral_overlap(const char *range, const char *reserved, uint16_t lo,
    uint16_t hi, uint16_t *eph_lo, uint16_t *eph_hi)
{
	unsigned long a, b, from, to;
	int n = 0;

	*eph_lo = *eph_hi = 0;
	if (reserved == NULL || parse_port_range(range, &a, &b) < 0)
		return -1;
	*eph_lo = (uint16_t)a;
	*eph_hi = (uint16_t)b;
	from = lo > a ? lo : a;
	to = hi < b ? hi : b;
	for (unsigned long port = from; port <= to; port++) {
		int r = port_reserved(reserved, port);

		if (r < 0)
			return -1;
		n += r == 0;
	}
	return n;
}

/* The configured range may share ports with the kernel's ephemeral
 * range: there every outgoing connection on the host (the mirror's own
 * pushes, a backup job, a resolver) may be given one of our passive ports,
 * which the pool then skips while it is held. Quietly the range is smaller
 * than the admin sized it, and under load PASV waits or answers 425 with
 * ports "free" in the config. Said at start and by `relayftpd check`. */
int
pasvpool_overlap_warning(uint16_t lo, uint16_t hi, char *buf, size_t len)
{
	char range[64], reserved[4096];
	uint16_t eph_lo, eph_hi;
	int n;

	if (lo == 0 || hi < lo ||
	    read_small("/proc/sys/net/ipv4/ip_local_port_range", range,
	        sizeof(range)) < 0 ||
	    read_small("/proc/sys/net/ipv4/ip_local_reserved_ports", reserved,
	        sizeof(reserved)) < 0)
		return 0;
	n = pasvpool_ephemeral_overlap(
	    range, reserved, lo, hi, &eph_lo, &eph_hi);
	if (n <= 0)
		return 0;
	snprintf(buf, len,
	    "passive_ports %u-%u: %d of its %u ports lie in the kernel's "
	    "ephemeral range %u-%u (net.ipv4.ip_local_port_range), from which "
	    "any program's outgoing connections take ports; a port taken so "
	    "is skipped while it is held. Reserve the range (sysctl "
	    "net.ipv4.ip_local_reserved_ports=%u-%u) or move passive_ports "
	    "out of %u-%u",
	    (unsigned)lo, (unsigned)hi, n, (unsigned)(hi - lo) + 1,
	    (unsigned)eph_lo, (unsigned)eph_hi, (unsigned)lo, (unsigned)hi,
	    (unsigned)eph_lo, (unsigned)eph_hi);
	return 1;
}

struct pasvpool *
pasvpool_new(uint16_t lo, uint16_t hi)
{
	struct pasvpool *p = calloc(1, sizeof(*p));
	unsigned start = 0;

	if (p == NULL)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	if (lo == 0 || hi < lo) {
		char range[64], reserved[256];

		/* Read once: picking from it costs no more per PASV. */
		if (read_small("/proc/sys/net/ipv4/ip_local_port_range", range,
		        sizeof(range)) < 0 ||
		    read_small("/proc/sys/net/ipv4/ip_local_reserved_ports",
		        reserved, sizeof(reserved)) < 0 ||
		    pasvpool_ephemeral_range(
		        range, reserved, &p->eph_lo, &p->eph_hi) < 0)
			p->eph_lo = p->eph_hi = 0;
		return p;
	}
	char why[512];

	if (pasvpool_overlap_warning(lo, hi, why, sizeof(why)))
		log_warn("%s", why);
	p->lo = lo;
	p->span = (unsigned)(hi - lo) + 1;
	p->ours = calloc(p->span, sizeof(*p->ours));
	p->skip_until = calloc(p->span, sizeof(*p->skip_until));
	if (p->ours == NULL || p->skip_until == NULL) {
		pasvpool_free(p);
		return NULL;
	}
	if (getrandom(&start, sizeof(start), 0) < 0)
		start = (unsigned)getpid();
	p->cursor = start % p->span;
	return p;
}

void
pasvpool_set_ephemeral(struct pasvpool *p, uint16_t lo, uint16_t hi)
{
	p->eph_lo = lo <= hi ? lo : 0;
	p->eph_hi = lo <= hi ? hi : 0;
}

void
pasvpool_free(struct pasvpool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p->ours);
	free(p->skip_until);
	free(p);
}

void
pasvpool_stop(struct pasvpool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	for (struct waiter *w = p->head; w != NULL; w = w->next)
		pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&p->lock);
}

/* Closes fd keeping the errno that made us give it up; -1. */
static int
close_failed(int fd)
{
	int e = errno;

	close(fd);
	errno = e;
	return -1;
}

/* A socket of addr's family for a listener, not bound yet; -1 with
 * errno. */
static int
listener_socket(const struct sockaddr_storage *addr)
{
	int fd, one = 1;

	/* Non-blocking: the session tries accept first (datachan.c), since
	 * most clients connect before they send the transfer command. */
	fd = socket(
	    addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	/* Without it, every data connection we closed first keeps its port
	 * unbindable for TIME_WAIT (60 s). Never SO_REUSEPORT: that would
	 * let another program of the same user listen on the port too. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return close_failed(fd);
	return fd;
}

/* Binds fd to addr's IP and port and listens: 0; -1 with errno if bind
 * failed (fd still unbound: another port can be tried on it); -2 with
 * errno if listen failed (fd bound: of no more use). */
static int
bind_listen(
    int fd, const struct sockaddr_storage *addr, socklen_t len, uint16_t port)
{
	struct sockaddr_storage a = *addr;

	if (a.ss_family == AF_INET)
		((struct sockaddr_in *)&a)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&a)->sin6_port = htons(port);
	if (bind(fd, (struct sockaddr *)&a, len) < 0)
		return -1;
	return listen(fd, PASV_BACKLOG) < 0 ? -2 : 0;
}

/* A listening socket on addr's IP and port, or -1 with errno. */
static int
open_listener(const struct sockaddr_storage *addr, socklen_t len, uint16_t port)
{
	int fd = listener_socket(addr);

	if (fd < 0)
		return -1;
	if (bind_listen(fd, addr, len, port) < 0)
		return close_failed(fd);
	return fd;
}

/* With the lock held: the index of a port to try, marked ours, or -1. */
static int
take_port(struct pasvpool *p, uint64_t now)
{
	for (unsigned i = 0; i < p->span; i++) {
		unsigned k = (p->cursor + i) % p->span;

		if (p->ours[k] || p->skip_until[k] > now)
			continue;
		p->ours[k] = 1;
		p->nours++;
		p->cursor = (k + 1) % p->span;
		return (int)k;
	}
	return -1;
}

/* With the lock held: puts port index k back and wakes the first waiter. */
static void
give_back(struct pasvpool *p, unsigned k)
{
	p->ours[k] = 0;
	p->nours--;
	if (p->head != NULL)
		pthread_cond_signal(&p->head->cond);
}

static void
dequeue(struct pasvpool *p, struct waiter *w)
{
	struct waiter **pp = &p->head, *prev = NULL;

	while (*pp != NULL && *pp != w) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp == NULL)
		return;
	*pp = w->next;
	if (p->tail == w)
		p->tail = prev;
	/* The next in line may find a port too (several may be free). */
	if (p->head != NULL)
		pthread_cond_signal(&p->head->cond);
}

static void
timed_wait(struct pasvpool *p, struct waiter *w, uint64_t until)
{
	uint64_t now = clock_mono_ms();
	struct timespec ts =
	    clock_mono_after(until > now ? (int64_t)(until - now) : 0);

	pthread_cond_timedwait(&w->cond, &p->lock, &ts);
}

/*
 * The no-range case: a port of the kernel's ephemeral range. Picked at
 * random by us first: the kernel's own pick (bind to port 0) searches the
 * range for a port nothing is bound to, and a busy server's data
 * connections leave thousands of them in TIME_WAIT. With 12,000 there,
 * bind(0) took 3.2 ms (a few hundred transfers a second at most) where a
 * random port took 15 us; SO_REUSEADDR lets our listener share a port
 * with our own TIME_WAIT, never with a live socket nor with the TIME_WAIT
 * of a connection another program made from that port (EADDRINUSE:
 * another try, on the same socket: on a busy host half the tries fail).
 */
static int
listen_ephemeral(struct pasvpool *p, const struct sockaddr_storage *addr,
    socklen_t len, uint16_t *port)
{
	static _Thread_local uint64_t rng;
	struct sockaddr_storage a;
	socklen_t alen = sizeof(a);
	int fd = listener_socket(addr), r;

	if (fd < 0)
		return -1;
	for (int i = 0; p->eph_lo != 0 && i < EPHEMERAL_TRIES; i++) {
		uint16_t want;

		/* xorshift64, seeded once per thread: no system call. */
		while (rng == 0 &&
		    getrandom(&rng, sizeof(rng), GRND_NONBLOCK) !=
		        (ssize_t)sizeof(rng))
			rng = (uint64_t)clock_mono_ms() * 2654435761u + 1;
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		want = (uint16_t)(p->eph_lo +
		    rng % ((unsigned)(p->eph_hi - p->eph_lo) + 1));
		r = bind_listen(fd, addr, len, want);
		if (r == 0) {
			*port = want;
			return fd;
		}
		if (errno != EADDRINUSE)
			goto fail;
		/* Two sessions' binds of one port may both pass (both have
		 * SO_REUSEADDR) and the second listen fail: a fresh socket. */
		if (r == -2) {
			close(fd);
			fd = listener_socket(addr);
			if (fd < 0)
				return -1;
		}
	}
	if (bind_listen(fd, addr, len, 0) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
		goto fail;
	*port = a.ss_family == AF_INET ?
	    ntohs(((struct sockaddr_in *)&a)->sin_port) :
	    ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
	return fd;
fail:
	return close_failed(fd);
}

int
pasvpool_listen(struct pasvpool *p, const struct sockaddr_storage *addr,
    socklen_t len, int wait_ms, uint16_t *port)
{
	uint64_t deadline =
	    clock_mono_ms() + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
	struct waiter me;
	int queued = 0, fd = -1, err = 0;

	if (p->span == 0)
		return listen_ephemeral(p, addr, len, port);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		uint64_t now = clock_mono_ms();
		int k = -1;

		if (p->stopping) {
			err = ECANCELED;
			break;
		}
		/* Only the head of the queue (or anyone, when nobody waits)
		 * may take a port. */
		if (p->head == NULL || p->head == &me)
			k = take_port(p, now);
		if (k >= 0) {
			pthread_mutex_unlock(&p->lock);
			fd = open_listener(addr, len, (uint16_t)(p->lo + k));
			err = errno;
			pthread_mutex_lock(&p->lock);
			if (fd >= 0) {
				*port = (uint16_t)(p->lo + k);
				break;
			}
			p->ours[k] = 0;
			p->nours--;
			if (err != EADDRINUSE)
				break;
			/* Another program listens there (or holds it without
			 * SO_REUSEADDR): leave it alone for a while. */
			p->skip_until[k] = now + FOREIGN_SKIP_MS;
			log_warn("passive port %u is in use by another "
			         "program; skipping it for %d s",
			    (unsigned)(p->lo + k), FOREIGN_SKIP_MS / 1000);
			continue;
		}
		if (p->nours == 0 && (p->head == NULL || p->head == &me)) {
			/* Nothing of ours to wait for: every port is held by
			 * other programs. */
			err = EADDRINUSE;
			break;
		}
		if (now >= deadline) {
			err = ETIMEDOUT;
			break;
		}
		if (!queued) {
			clock_cond_init(&me.cond);
			me.next = NULL;
			if (p->tail != NULL)
				p->tail->next = &me;
			else
				p->head = &me;
			p->tail = &me;
			queued = 1;
			continue; /* the head may take a port at once */
		}
		timed_wait(p, &me,
		    deadline < now + RECHECK_MS ? deadline : now + RECHECK_MS);
	}
	if (queued) {
		dequeue(p, &me);
		pthread_cond_destroy(&me.cond);
	}
	pthread_mutex_unlock(&p->lock);
	if (fd < 0)
		errno = err;
	return fd;
}

void
pasvpool_close(struct pasvpool *p, int fd, uint16_t port)
{
	if (fd < 0)
		return;
	/* Closed before the port is marked free: the next bind must not
	 * find our own listener still there. */
	close(fd);
	if (p->span == 0 || port < p->lo || (unsigned)(port - p->lo) >= p->span)
		return;
	pthread_mutex_lock(&p->lock);
	give_back(p, (unsigned)(port - p->lo));
	pthread_mutex_unlock(&p->lock);
}
