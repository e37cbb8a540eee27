/*
 * bench/ftpclient.c: the benchmark's raw-socket FTP client (plain FTP over
 * IPv4: USER/PASS, TYPE I, EPSV or PASV, [ALLO] STOR/RETR, LIST/MLSD/NLST,
 * QUIT).
 *
 * It owns the timed part of every bench/run.py row, so that the client's
 * own cost is a few system calls per transfer (libcurl's per-transfer
 * overhead compressed the ratios toward 1). It checks every byte: what it
 * sends comes from a reference file, what it receives is compared with
 * that file, a transfer counts only on its 226. It prints one line of
 * key=value results on stdout for run.py to parse; errors go to stderr and
 * make the exit status non-zero.
 *
 * It must not decide anything about the servers' speed (run.py computes
 * medians and ratios) and never waits without a bound: every socket has a
 * send and receive timeout, every wait for a mirrored file a deadline.
 *
 * File i of a run holds the SIZE bytes of the reference at offset
 * (i * SIZE) mod its length, so run.py can verify stored copies itself.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN    2048 /* one reply line, longer is an error */
#define CTL_BUF         8192 /* buffered control bytes */
#define IO_TIMEOUT_S    30   /* any send or receive; a lost reply costs this */
#define RECV_CHUNK      (1 << 20) /* data read size */
#define NAME_LEN        64
#define MAX_CLIENTS     1024
#define WATCH_TIMEOUT_S 120       /* a mirrored file must arrive by then */
#define PACE_CHUNK      (1 << 20) /* -R: bytes sent at a time */

struct opts {
	const char *host;
	unsigned port;
	const char *user;
	const char *pass;
	const char *dir;   /* CWD after login, NULL: stay */
	const char *ref;   /* reference file */
	const char *watch; /* folder on the mirror target to watch, or NULL */
	int wait_each;     /* -W: wait for each file on the target */
	int pasv;          /* -4: PASV instead of EPSV */
	int until_eof;     /* -S: parallel runs until stdin ends */
	const char *src;   /* -s: source IPv4 address; client k of parallel
	                    * uses it + k (another client to the server) */
	uint64_t rate;     /* -R: STOR sends at most this many bytes/s (a
	                    * client on a link of that speed); 0: no limit */
	int allo;          /* -A: each STOR declares its size first (ALLO,
	                    * RFC 959), in the same write as the STOR */
	int up_only;       /* mode pstor: parallel uploads, no downloads */
	int publish;       /* -T: each file is published as relayftpd's
	                    * mirror publishes it to a vsftpd (STOR of a
	                    * temporary name, SIZE, RNFR + RNTO + SIZE + MDTM
	                    * with a time), with the fewest round trips that
	                    * allows: a ceiling for the relay */
};

/* Client k of parallel mode: added to -s's address. */
static __thread uint32_t src_step;

struct ref {
	const unsigned char *p;
	size_t len;
	int fd;
};

struct ctl {
	int fd;
	char buf[CTL_BUF];
	size_t off; /* first unread byte in buf */
	size_t len; /* bytes in buf */
	char last[LINE_MAX_LEN];
};

static struct opts o = { .host = "127.0.0.1" };
static struct ref rf = { .fd = -1 };
static atomic_int stop_flag; /* -S: stdin ended, the clients stop */

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
warn_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("ftpclient: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Parse a whole decimal number within [lo, hi]; -1 on anything else. */
static int
parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static int
set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S, .tv_usec = 0 };
	int one = 1;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		return -1;
	return 0;
}

static int
connect_port(unsigned port)
{
	struct sockaddr_in sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, o.host, &sa.sin_addr) != 1) {
		warn_msg("bad IPv4 address %s", o.host);
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (o.src != NULL) {
		struct sockaddr_in me;

		memset(&me, 0, sizeof(me));
		me.sin_family = AF_INET;
		if (inet_pton(AF_INET, o.src, &me.sin_addr) != 1) {
			warn_msg("bad IPv4 source address %s", o.src);
			close(fd);
			return -1;
		}
		me.sin_addr.s_addr =
		    htonl(ntohl(me.sin_addr.s_addr) + src_step);
		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) != 0) {
			warn_msg(
			    "bind %s+%u: %s", o.src, src_step, strerror(errno));
			close(fd);
			return -1;
		}
	}
	if (set_timeouts(fd) != 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		warn_msg("connect %s:%u: %s", o.host, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
write_all(int fd, const void *p, size_t len)
{
	const char *c = p;

	while (len > 0) {
		ssize_t n = send(fd, c, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One line without CRLF into line[cap]; -1 on EOF, error or overlong. */
static int
ctl_line(struct ctl *c, char *line, size_t cap)
{
	size_t used = 0;

	for (;;) {
		while (c->off < c->len) {
			char ch = c->buf[c->off++];

			if (ch == '\n') {
				if (used > 0 && line[used - 1] == '\r')
					used--;
				line[used] = '\0';
				return 0;
			}
			if (used + 1 >= cap)
				return -1;
			line[used++] = ch;
		}
		ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c->off = 0;
		c->len = (size_t)n;
	}
}

/* The code of the next complete reply (RFC 959 4.2: a multi-line reply
 * ends with "DDD " of the same code); its last line stays in c->last. -1 on
 * a broken connection. */
static int
ctl_reply(struct ctl *c)
{
	int multi = 0;

	for (;;) {
		int code;

		if (ctl_line(c, c->last, sizeof(c->last)) != 0)
			return -1;
		if (strlen(c->last) < 4 || c->last[0] < '1' ||
		    c->last[0] > '5' || c->last[1] < '0' || c->last[1] > '9' ||
		    c->last[2] < '0' || c->last[2] > '9') {
			if (multi)
				continue;
			warn_msg("bad reply line: %s", c->last);
			return -1;
		}
		code = (c->last[0] - '0') * 100 + (c->last[1] - '0') * 10 +
		    (c->last[2] - '0');
		if (multi && code != multi)
			continue;
		if (c->last[3] == '-') {
			multi = code;
			continue;
		}
		if (c->last[3] == ' ')
			return code;
		if (!multi) {
			warn_msg("bad reply line: %s", c->last);
			return -1;
		}
	}
}

static int
ctl_cmd(struct ctl *c, const char *fmt, ...)
{
	char line[LINE_MAX_LEN];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		warn_msg("command too long");
		return -1;
	}
	memcpy(line + n, "\r\n", 2);
	return write_all(c->fd, line, (size_t)n + 2);
}

/* Send a command and return its reply code, -1 if the connection broke. */
static int
ctl_ask(struct ctl *c, const char *fmt, const char *arg)
{
	if (ctl_cmd(c, fmt, arg) != 0)
		return -1;
	return ctl_reply(c);
}

static void
ctl_close(struct ctl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Connect and log in; 0 on 230, -1 otherwise (c closed). */
static int
ctl_login(struct ctl *c)
{
	int code;

	c->off = c->len = 0;
	c->fd = connect_port(o.port);
	if (c->fd < 0)
		return -1;
	code = ctl_reply(c);
	if (code != 220)
		goto fail;
	code = ctl_ask(c, "USER %s", o.user);
	if (code == 331)
		code = ctl_ask(c, "PASS %s", o.pass);
	if (code != 230)
		goto fail;
	if (ctl_ask(c, "TYPE %s", "I") != 200)
		goto fail;
	if (o.dir != NULL && ctl_ask(c, "CWD %s", o.dir) != 250)
		goto fail;
	return 0;
fail:
	warn_msg("login: %s", code < 0 ? "connection lost" : c->last);
	ctl_close(c);
	return -1;
}

static int
ctl_quit(struct ctl *c)
{
	int code = ctl_ask(c, "%s", "QUIT");

	ctl_close(c);
	return code == 221 ? 0 : -1;
}

/* Open a passive data connection: EPSV (RFC 2428) "(|||port|)", or PASV
 * (RFC 959) "(h1,h2,h3,h4,p1,p2)" with -4. Returns the fd, -1 on a broken
 * control connection, -2 on a refused or failed data connection. */
static int
open_data(struct ctl *c)
{
	unsigned port = 0;
	const char *p;
	int code, fd;

	if (!o.pasv) {
		code = ctl_ask(c, "%s", "EPSV");
		if (code < 0)
			return -1;
		p = strstr(c->last, "(|||");
		if (code != 229 || p == NULL ||
		    sscanf(p, "(|||%u|)", &port) != 1 || port == 0 ||
		    port > 65535) {
			warn_msg("EPSV: %s", c->last);
			return -2;
		}
	} else {
		unsigned h[4], p1, p2;

		code = ctl_ask(c, "%s", "PASV");
		if (code < 0)
			return -1;
		p = strchr(c->last, '(');
		if (code != 227 || p == NULL ||
		    sscanf(p, "(%u,%u,%u,%u,%u,%u)", &h[0], &h[1], &h[2], &h[3],
		        &p1, &p2) != 6 ||
		    p1 > 255 || p2 > 255) {
			warn_msg("PASV: %s", c->last);
			return -2;
		}
		port = p1 * 256 + p2;
	}
	fd = connect_port(port);
	return fd < 0 ? -2 : fd;
}

/* Offset in the reference of file i of SIZE bytes. */
static size_t
ref_off(uint64_t i, size_t size)
{
	return (size_t)((i * size) % rf.len);
}

/* Transfer results: 0 done (226), 1 this transfer failed but the session
 * lives, -1 the session is lost. */
static int
xfer_end(struct ctl *c, int data_ok, const char *what, const char *name)
{
	int code = ctl_reply(c);

	if (code < 0)
		return -1;
	if (code != 226 || !data_ok) {
		warn_msg("%s %s: %s%s", what, name, c->last,
		    data_ok ? "" : " (data connection error)");
		return 1;
	}
	return 0;
}

/*
 * -T: the file went up as tmp; it is checked (SIZE, RFC 3659) and renamed
 * into place, the final name's SIZE checked, with its time set, as
 * relayftpd's mirror does (to a vsftpd, which has no MFMT: "MDTM TIME
 * name", its way to set a time). The rename, its check and the time are
 * pipelined in one write, since nothing decides between them: one round
 * trip for the check, one for the rest. 0 done, 1 failed, -1 the session
 * is lost.
 */
static int
publish_one(struct ctl *c, const char *tmp, const char *name, size_t size)
{
	unsigned long long got;
	int code;

	code = ctl_ask(c, "SIZE %s", tmp);
	if (code < 0)
		return -1;
	if (code != 213 || sscanf(c->last + 4, "%llu", &got) != 1 ||
	    got != size) {
		warn_msg("SIZE %s: %s (sent %zu)", tmp, c->last, size);
		return 1;
	}
	if (ctl_cmd(c,
	        "RNFR %s\r\nRNTO %s\r\nSIZE %s\r\nMDTM 20260101000000 %s", tmp,
	        name, name, name) != 0)
		return -1;
	code = ctl_reply(c);
	if (code < 0)
		return -1;
	if (code != 350) {
		warn_msg("RNFR %s: %s", tmp, c->last);
		/* RNTO, SIZE and MDTM have their replies too. */
		return ctl_reply(c) < 0 || ctl_reply(c) < 0 ||
		        ctl_reply(c) < 0 ?
		    -1 :
		    1;
	}
	code = ctl_reply(c);
	if (code < 0)
		return -1;
	if (code != 250) {
		warn_msg("RNTO %s: %s", name, c->last);
		return ctl_reply(c) < 0 || ctl_reply(c) < 0 ? -1 : 1;
	}
	code = ctl_reply(c);
	if (code < 0)
		return -1;
	if (code != 213 || sscanf(c->last + 4, "%llu", &got) != 1 ||
	    got != size) {
		warn_msg("SIZE %s: %s (sent %zu)", name, c->last, size);
		return ctl_reply(c) < 0 ? -1 : 1;
	}
	code = ctl_reply(c);
	if (code < 0)
		return -1;
	if (code != 213) {
		warn_msg("MDTM %s: %s", name, c->last);
		return 1;
	}
	return 0;
}

static int stor_data(struct ctl *c, const char *name, size_t off, size_t size);

static int
stor_one(struct ctl *c, const char *name, size_t off, size_t size)
{
	char tmp[NAME_LEN + 16];
	int r;

	if (!o.publish)
		return stor_data(c, name, off, size);
	if (snprintf(tmp, sizeof(tmp), ".in.%s.tmp", name) >=
	    (int)sizeof(tmp)) {
		warn_msg("name too long: %s", name);
		return -1;
	}
	r = stor_data(c, tmp, off, size);
	return r != 0 ? r : publish_one(c, tmp, name, size);
}

static int
stor_data(struct ctl *c, const char *name, size_t off, size_t size)
{
	int fd = open_data(c), code, ok = 1;
	off_t pos = (off_t)off;
	size_t left = size;
	double t0;

	if (fd < 0)
		return fd == -1 ? -1 : 1;
	if (o.allo) {
		/* Pipelined: no round trip more than a plain STOR. Any 2xx
		 * will do (RFC 959: 200, or 202 where it is superfluous). */
		if (ctl_cmd(c, "ALLO %zu\r\nSTOR %s", size, name) != 0 ||
		    (code = ctl_reply(c)) < 0) {
			close(fd);
			return -1;
		}
		if (code / 100 != 2) {
			warn_msg("ALLO %zu: %s", size, c->last);
			/* The STOR sent with it has its own reply. */
			code = ctl_reply(c);
			close(fd);
			if (code < 0)
				return -1;
			if (code == 150 || code == 125)
				return -1; /* a transfer we will not feed */
			return 1;
		}
		code = ctl_reply(c);
	} else
		code = ctl_ask(c, "STOR %s", name);
	if (code != 150 && code != 125) {
		close(fd);
		if (code < 0)
			return -1;
		warn_msg("STOR %s: %s", name, c->last);
		return 1;
	}
	t0 = now();
	while (left > 0) {
		/* Paced: 1 MiB at a time, none before its time at o.rate. */
		size_t want =
		    o.rate ? (left < PACE_CHUNK ? left : PACE_CHUNK) : left;
		ssize_t n;

		if (o.rate) {
			double due =
			    t0 + (double)(size - left) / (double)o.rate;
			double wait = due - now();

			if (wait > 0) {
				struct timespec ts = { (time_t)wait,
					(long)((wait - (double)(time_t)wait) *
					    1e9) };

				nanosleep(&ts, NULL);
			}
		}
		n = sendfile(fd, rf.fd, &pos, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ok = 0;
			break;
		}
		left -= (size_t)n;
	}
	if (close(fd) != 0)
		ok = 0;
	return xfer_end(c, ok, "STOR", name);
}

static unsigned char *
rbuf_alloc(void)
{
	unsigned char *b = malloc(RECV_CHUNK);

	if (b == NULL)
		warn_msg("out of memory");
	return b;
}

/* RETR name and compare every byte with the reference at off. */
static int
retr_one(struct ctl *c, unsigned char *buf, const char *name, size_t off,
    size_t size)
{
	int fd = open_data(c), code, ok = 1;
	size_t got = 0;

	if (fd < 0)
		return fd == -1 ? -1 : 1;
	code = ctl_ask(c, "RETR %s", name);
	if (code != 150 && code != 125) {
		close(fd);
		if (code < 0)
			return -1;
		warn_msg("RETR %s: %s", name, c->last);
		return 1;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, RECV_CHUNK, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ok = 0;
			break;
		}
		if (n == 0)
			break;
		if (got + (size_t)n > size ||
		    memcmp(buf, rf.p + off + got, (size_t)n) != 0) {
			warn_msg("RETR %s: bytes differ from the reference "
			         "near offset %zu",
			    name, got);
			ok = 0;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (ok && got != size) {
		warn_msg("RETR %s: %zu bytes, want %zu", name, got, size);
		ok = 0;
	}
	return xfer_end(c, ok, "RETR", name);
}

static int
file_name(char *out, size_t cap, const char *prefix, uint64_t i)
{
	int n = snprintf(out, cap, "%s%05" PRIu64 ".bin", prefix, i);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the n values of v (sorted here), in ms. */
static double
pct_ms(double *v, size_t n, double pct)
{
	size_t k;

	if (n == 0)
		return -1.0;
	qsort(v, n, sizeof(*v), cmp_double);
	k = (size_t)(pct / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1] * 1000.0;
}

static int
map_ref(void)
{
	struct stat st;
	void *p;

	if (o.ref == NULL) {
		warn_msg("this mode needs -r REFERENCE");
		return -1;
	}
	rf.fd = open(o.ref, O_RDONLY | O_CLOEXEC);
	if (rf.fd < 0 || fstat(rf.fd, &st) != 0 || st.st_size <= 0) {
		warn_msg("reference %s: %s", o.ref, strerror(errno));
		return -1;
	}
	rf.len = (size_t)st.st_size;
	p = mmap(NULL, rf.len, PROT_READ, MAP_SHARED | MAP_POPULATE, rf.fd, 0);
	if (p == MAP_FAILED) {
		warn_msg("mmap %s: %s", o.ref, strerror(errno));
		return -1;
	}
	rf.p = p;
	return 0;
}

static int
check_size(size_t size)
{
	if (size == 0 || size > rf.len || rf.len % size != 0) {
		warn_msg("SIZE must divide the reference's %zu bytes", rf.len);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------- watching */

/* Files seen complete under their final name on the mirror target: a
 * rename into the folder (IN_MOVED_TO, how the mirror publishes) or a
 * closed write (IN_CLOSE_WRITE, a direct writer), with the full size. */
struct watch {
	int ifd;
	int dfd;
	double *seen; /* arrival time per file, 0: not yet */
	uint64_t count;
	uint64_t arrived;
	uint64_t need; /* files to wait for at the end (those sent) */
	size_t size;
	const char *prefix;
	/* Without -W a thread of its own stamps arrivals while the uploads
	 * go on; it alone touches seen and arrived until joined. */
	pthread_t tid;
	int thread_on;
	atomic_int finished; /* set after need: no more uploads */
	int error;
};

static int
watch_open(struct watch *w, uint64_t count, size_t size, const char *prefix)
{
	memset(w, 0, sizeof(*w));
	w->ifd = w->dfd = -1;
	w->count = count;
	w->need = count;
	w->size = size;
	w->prefix = prefix;
	w->seen = calloc(count, sizeof(*w->seen));
	if (w->seen == NULL)
		return -1;
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->dfd = open(o.watch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->ifd < 0 || w->dfd < 0 ||
	    inotify_add_watch(w->ifd, o.watch, IN_MOVED_TO | IN_CLOSE_WRITE) <
	        0) {
		warn_msg("watch %s: %s", o.watch, strerror(errno));
		return -1;
	}
	return 0;
}

static void
watch_close(struct watch *w)
{
	if (w->ifd >= 0)
		close(w->ifd);
	if (w->dfd >= 0)
		close(w->dfd);
	free(w->seen);
}

/* Read the pending events; those of our files with the full size count. */
static int
watch_drain(struct watch *w)
{
	char evbuf[64 * 1024] __attribute__((aligned(8)));
	size_t plen = strlen(w->prefix);

	for (;;) {
		ssize_t n = read(w->ifd, evbuf, sizeof(evbuf));
		double t = now();

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		for (size_t at = 0;
		     at + sizeof(struct inotify_event) <= (size_t)n;) {
			const struct inotify_event *ev =
			    (const void *)(evbuf + at);
			uint64_t i;
			char num[NAME_LEN];
			struct stat st;
			size_t nl;

			at += sizeof(*ev) + ev->len;
			if (ev->len == 0)
				continue;
			nl = strnlen(ev->name, ev->len);
			/* prefix + digits + ".bin" */
			if (nl <= plen + 4 || nl - plen - 4 >= sizeof(num) ||
			    strncmp(ev->name, w->prefix, plen) != 0 ||
			    strcmp(ev->name + nl - 4, ".bin") != 0)
				continue;
			memcpy(num, ev->name + plen, nl - plen - 4);
			num[nl - plen - 4] = '\0';
			if (parse_u64(num, 0, w->count - 1, &i) != 0 ||
			    w->seen[i] > 0)
				continue;
			if (fstatat(w->dfd, ev->name, &st,
			        AT_SYMLINK_NOFOLLOW) != 0 ||
			    (size_t)st.st_size != w->size)
				continue;
			w->seen[i] = t;
			w->arrived++;
		}
	}
}

/* Wait until file i (or, with i == count, every file) arrived. */
static int
watch_wait(struct watch *w, uint64_t i)
{
	double deadline = now() + WATCH_TIMEOUT_S;

	for (;;) {
		struct pollfd pfd = { .fd = w->ifd, .events = POLLIN };
		double left;

		if (watch_drain(w) != 0)
			return -1;
		if (i < w->count ? w->seen[i] > 0 : w->arrived >= w->need)
			return 0;
		left = deadline - now();
		if (left <= 0) {
			warn_msg("watch: %" PRIu64 " of %" PRIu64
			         " files on the target after %d s",
			    w->arrived, w->count, WATCH_TIMEOUT_S);
			return -1;
		}
		if (poll(&pfd, 1, (int)(left * 1000) + 1) < 0 && errno != EINTR)
			return -1;
	}
}

/* The watcher thread: drain events as they come (a 50 ms poll only to
 * notice the end of the uploads); ends once every file sent arrived, or
 * WATCH_TIMEOUT_S after the last upload. */
static void *
watch_run(void *arg)
{
	struct watch *w = arg;
	double deadline = 0;

	for (;;) {
		struct pollfd pfd = { .fd = w->ifd, .events = POLLIN };

		if (atomic_load(&w->finished)) {
			if (w->arrived >= w->need)
				return NULL;
			if (deadline == 0)
				deadline = now() + WATCH_TIMEOUT_S;
			else if (now() > deadline)
				return NULL;
		}
		if ((poll(&pfd, 1, 50) < 0 && errno != EINTR) ||
		    watch_drain(w) != 0) {
			w->error = 1;
			return NULL;
		}
	}
}

static int
watch_start(struct watch *w)
{
	if (pthread_create(&w->tid, NULL, watch_run, w) != 0) {
		warn_msg("pthread_create failed");
		return -1;
	}
	w->thread_on = 1;
	return 0;
}

/* Tell the thread that need files were sent and wait for it; 0 when all
 * arrived. need 0 just stops it. */
static int
watch_join(struct watch *w, uint64_t need)
{
	if (!w->thread_on)
		return -1;
	w->need = need;
	atomic_store(&w->finished, 1);
	pthread_join(w->tid, NULL);
	w->thread_on = 0;
	if (w->error || w->arrived < need) {
		warn_msg("watch: %" PRIu64 " of %" PRIu64
		         " files on the target after %d s",
		    w->arrived, need, WATCH_TIMEOUT_S);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------- modes */

/* logins N: connect, USER, PASS, QUIT, close; N times. */
static int
mode_logins(uint64_t n)
{
	double t0 = now();

	for (uint64_t i = 0; i < n; i++) {
		struct ctl c;

		if (ctl_login(&c) != 0 || ctl_quit(&c) != 0) {
			warn_msg("login %" PRIu64 " failed", i);
			return -1;
		}
	}
	double dt = now() - t0;

	printf("logins=%" PRIu64 " seconds=%.6f rate=%.3f\n", n, dt,
	    (double)n / dt);
	return 0;
}

/* True once stdin has ended (-S); never blocks. */
static int
stdin_ended(void)
{
	static int ended;
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	char b[256];

	while (!ended && poll(&pfd, 1, 0) == 1) {
		ssize_t n = read(0, b, sizeof(b));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			ended = 1;
	}
	return ended;
}

/* stor N SIZE: N files "fNNNNN.bin" over one session. With -w the target
 * folder is watched: -W waits for each file there before the next upload
 * (latency 226 -> complete on the target); without it, for all at the end
 * (complete = first upload's start -> last file on the target). With -S it
 * stops early, before a file after the first, once stdin has ended. */
static int
mode_stor(uint64_t n, size_t size)
{
	struct ctl c;
	struct watch w = { .ifd = -1, .dfd = -1 };
	double *lat = calloc(n, sizeof(double));
	double *done = calloc(n, sizeof(double));
	double t0, t1, tend = 0;
	uint64_t sent = 0;
	int rc = -1;
	char name[NAME_LEN];

	if (lat == NULL || done == NULL || check_size(size) != 0)
		goto out;
	if (o.watch != NULL && watch_open(&w, n, size, "f") != 0)
		goto out;
	if (ctl_login(&c) != 0)
		goto out;
	if (o.watch != NULL && !o.wait_each && watch_start(&w) != 0) {
		ctl_close(&c);
		goto out;
	}
	t0 = now();
	for (uint64_t i = 0; i < n; i++, sent++) {
		double ts = now();

		if (i > 0 && o.until_eof && stdin_ended())
			break;

		if (file_name(name, sizeof(name), "f", i) != 0 ||
		    stor_one(&c, name, ref_off(i, size), size) != 0) {
			ctl_close(&c);
			goto out;
		}
		done[i] = now();
		lat[i] = done[i] - ts;
		if (o.watch != NULL && o.wait_each && watch_wait(&w, i) != 0) {
			ctl_close(&c);
			goto out;
		}
	}
	t1 = now();
	if (ctl_quit(&c) != 0)
		warn_msg("QUIT after the uploads failed");
	if (sent == 0) {
		warn_msg("no file sent");
		goto out;
	}
	n = sent;
	/* t0_mono: where the timed part starts on CLOCK_MONOTONIC, so that
	 * run.py can leave the login out of what it measures around it. */
	printf("files=%" PRIu64 " bytes=%" PRIu64 " seconds=%.6f "
	       "rate=%.3f mbps=%.3f p50_ms=%.3f p99_ms=%.3f t0_mono=%.6f",
	    n, n * size, t1 - t0, (double)n / (t1 - t0),
	    (double)(n * size) / 1e6 / (t1 - t0), pct_ms(lat, n, 50),
	    pct_ms(lat, n, 99), t0);
	if (o.watch != NULL) {
		if (o.wait_each) {
			w.need = n;
			if (watch_wait(&w, w.count) != 0)
				goto out;
		} else if (watch_join(&w, n) != 0)
			goto out;
		for (uint64_t i = 0; i < n; i++) {
			lat[i] = w.seen[i] - done[i];
			if (lat[i] < 0)
				lat[i] = 0;
			if (w.seen[i] > tend)
				tend = w.seen[i];
		}
		printf(" complete_seconds=%.6f complete_rate=%.3f "
		       "complete_mbps=%.3f relay_p50_ms=%.3f relay_p99_ms=%.3f "
		       "relay_max_ms=%.3f",
		    tend - t0, (double)n / (tend - t0),
		    (double)(n * size) / 1e6 / (tend - t0), pct_ms(lat, n, 50),
		    pct_ms(lat, n, 99), pct_ms(lat, n, 100));
	}
	printf("\n");
	rc = 0;
out:
	if (w.thread_on)
		(void)watch_join(&w, 0);
	if (o.watch != NULL)
		watch_close(&w);
	free(lat);
	free(done);
	return rc;
}

/* retr N SIZE: N prepared files "fNNNNN.bin" over one session. */
static int
mode_retr(uint64_t n, size_t size)
{
	struct ctl c;
	unsigned char *buf = rbuf_alloc();
	double *lat = calloc(n, sizeof(double));
	double t0, t1;
	int rc = -1;
	char name[NAME_LEN];

	if (buf == NULL || lat == NULL || check_size(size) != 0 ||
	    ctl_login(&c) != 0)
		goto out;
	t0 = now();
	for (uint64_t i = 0; i < n; i++) {
		double ts = now();

		if (file_name(name, sizeof(name), "f", i) != 0 ||
		    retr_one(&c, buf, name, ref_off(i, size), size) != 0) {
			ctl_close(&c);
			goto out;
		}
		lat[i] = now() - ts;
	}
	t1 = now();
	if (ctl_quit(&c) != 0)
		warn_msg("QUIT after the downloads failed");
	printf("files=%" PRIu64 " bytes=%" PRIu64 " seconds=%.6f rate=%.3f "
	       "mbps=%.3f p50_ms=%.3f p99_ms=%.3f\n",
	    n, n * size, t1 - t0, (double)n / (t1 - t0),
	    (double)(n * size) / 1e6 / (t1 - t0), pct_ms(lat, n, 50),
	    pct_ms(lat, n, 99));
	rc = 0;
out:
	free(buf);
	free(lat);
	return rc;
}

/* list CMD PATH: one LIST, NLST or MLSD; counts its lines and those that
 * name an "ent-" entry. Timed from the EPSV to the 226. */
static int
mode_list(const char *cmd, const char *path)
{
	struct ctl c;
	unsigned char *buf = rbuf_alloc();
	uint64_t lines = 0, matched = 0, bytes = 0;
	size_t linelen = 0, hit = 0;
	const char *pat = "ent-";
	int fd, code, ok = 1, rc = -1;
	double t0, t1;

	if (buf == NULL || ctl_login(&c) != 0)
		goto out;
	t0 = now();
	fd = open_data(&c);
	if (fd < 0)
		goto fail;
	if (ctl_cmd(&c, "%s %s", cmd, path) != 0) {
		close(fd);
		goto fail;
	}
	code = ctl_reply(&c);
	if (code != 150 && code != 125) {
		close(fd);
		warn_msg("%s: %s", cmd, code < 0 ? "connection lost" : c.last);
		goto fail;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, RECV_CHUNK, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ok = 0;
		if (n <= 0)
			break;
		bytes += (uint64_t)n;
		for (ssize_t k = 0; k < n; k++) {
			unsigned char ch = buf[k];

			if (ch == '\n') {
				lines++;
				matched += hit == 4;
				linelen = hit = 0;
				continue;
			}
			/* "ent-" anywhere in the line */
			if (hit < 4)
				hit = ch == (unsigned char)pat[hit] ? hit + 1 :
				    ch == 'e'                       ? 1 :
				                                      0;
			linelen++;
		}
	}
	close(fd);
	if (linelen > 0)
		ok = 0; /* a last line without its end */
	if (xfer_end(&c, ok, cmd, path) != 0)
		goto fail;
	t1 = now();
	(void)ctl_quit(&c);
	printf("lines=%" PRIu64 " matched=%" PRIu64 " bytes=%" PRIu64
	       " seconds=%.6f\n",
	    lines, matched, bytes, t1 - t0);
	rc = 0;
	goto out;
fail:
	ctl_close(&c);
out:
	free(buf);
	return rc;
}

/* parallel K M SIZE: K sessions log in, then all at once each uploads and
 * downloads back M files of SIZE bytes (pstor K M SIZE: uploads only) ("cKKK-NNNNN.bin", file j of client
 * k is reference slice k * M + j); a failed transfer is counted and the
 * session goes on (a lost session's remaining transfers all count as
 * failed). With -S (a steady load for another measurement) each client
 * stops at M files or when stdin ends, whichever comes first; a lost
 * session then counts as one failed file (2 transfers). */
struct pclient {
	pthread_t tid;
	unsigned k;
	uint64_t m;
	size_t size;
	pthread_barrier_t *bar;
	int logged_in;
	uint64_t failed;
	uint64_t bytes;
	double *lat; /* 2 * m: one per STOR, one per RETR */
	uint64_t nlat;
};

static void *
pclient_run(void *arg)
{
	struct pclient *p = arg;
	struct ctl c;
	unsigned char *buf = rbuf_alloc();
	char prefix[NAME_LEN], name[NAME_LEN];
	uint64_t j = 0;
	int n = snprintf(prefix, sizeof(prefix), "c%03u-", p->k);

	src_step = p->k;

	p->logged_in = buf != NULL && n > 0 && (size_t)n < sizeof(prefix) &&
	    ctl_login(&c) == 0;
	pthread_barrier_wait(p->bar);
	if (!p->logged_in)
		goto lost;
	for (; j < p->m && !atomic_load(&stop_flag); j++) {
		size_t off = ref_off((uint64_t)p->k * p->m + j, p->size);
		double ts = now();
		int r;

		if (file_name(name, sizeof(name), prefix, j) != 0)
			break;
		r = stor_one(&c, name, off, p->size);
		if (r < 0)
			goto lost;
		if (r > 0) {
			/* its download cannot be checked */
			p->failed += o.up_only ? 1 : 2;
			continue;
		}
		p->lat[p->nlat++] = now() - ts;
		p->bytes += p->size;
		if (o.up_only)
			continue;
		ts = now();
		r = retr_one(&c, buf, name, off, p->size);
		if (r < 0) {
			p->failed++;
			j++;
			goto lost;
		}
		if (r > 0) {
			p->failed++;
			continue;
		}
		p->lat[p->nlat++] = now() - ts;
		p->bytes += p->size;
	}
	(void)ctl_quit(&c);
	free(buf);
	return NULL;
lost:
	warn_msg("client %u: session lost after %" PRIu64 " files", p->k, j);
	p->failed += (o.up_only ? 1 : 2) * (o.until_eof ? 1 : p->m - j);
	if (p->logged_in)
		ctl_close(&c);
	free(buf);
	return NULL;
}

static int
mode_parallel(uint64_t k, uint64_t m, size_t size)
{
	struct pclient *pc = calloc(k, sizeof(*pc));
	double *all = calloc(2 * k * m, sizeof(double));
	pthread_barrier_t bar;
	uint64_t failed = 0, bytes = 0, nlat = 0, started = 0;
	unsigned logged = 0;
	double t0, t1;
	int rc = -1;

	if (pc == NULL || all == NULL || check_size(size) != 0 ||
	    pthread_barrier_init(&bar, NULL, (unsigned)k + 1) != 0)
		goto out;
	for (uint64_t i = 0; i < k; i++) {
		pc[i].k = (unsigned)i;
		pc[i].m = m;
		pc[i].size = size;
		pc[i].bar = &bar;
		pc[i].lat = all + 2 * i * m;
		if (pthread_create(&pc[i].tid, NULL, pclient_run, &pc[i]) !=
		    0) {
			warn_msg("pthread_create failed");
			/* The barrier can never open: nothing to join. */
			_exit(2);
		}
		started++;
	}
	pthread_barrier_wait(&bar);
	t0 = now();
	/* run.py may start other work once all are logged in */
	printf("started\n");
	fflush(stdout);
	if (o.until_eof) {
		char line[64];

		while (fgets(line, sizeof(line), stdin) != NULL)
			;
		atomic_store(&stop_flag, 1);
	}
	for (uint64_t i = 0; i < started; i++)
		pthread_join(pc[i].tid, NULL);
	t1 = now();
	pthread_barrier_destroy(&bar);
	for (uint64_t i = 0; i < k; i++) {
		failed += pc[i].failed;
		bytes += pc[i].bytes;
		logged += (unsigned)pc[i].logged_in;
		/* compact the latencies */
		memmove(all + nlat, pc[i].lat, pc[i].nlat * sizeof(double));
		nlat += pc[i].nlat;
	}
	printf("clients=%" PRIu64 " logged_in=%u transfers=%" PRIu64
	       " done=%" PRIu64 " failed=%" PRIu64 " bytes=%" PRIu64
	       " seconds=%.6f mbps=%.3f rate=%.3f "
	       "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f t0_mono=%.6f\n",
	    k, logged, (o.up_only ? 1 : 2) * k * m, nlat, failed, bytes,
	    t1 - t0, (double)bytes / 1e6 / (t1 - t0), (double)nlat / (t1 - t0),
	    pct_ms(all, nlat, 50), pct_ms(all, nlat, 99),
	    pct_ms(all, nlat, 100), t0);
	rc = 0;
out:
	free(pc);
	free(all);
	return rc;
}

/* idle N: N sessions log in and stay idle until stdin ends (run.py
 * measures the servers' memory meanwhile), then QUIT. */
static int
mode_idle(uint64_t n)
{
	struct ctl *cs = calloc(n, sizeof(*cs));
	uint64_t open_n = 0, quit_ok = 0;
	char line[64];
	int rc = -1;

	if (cs == NULL)
		return -1;
	for (; open_n < n; open_n++)
		if (ctl_login(&cs[open_n]) != 0)
			goto out;
	printf("ready sessions=%" PRIu64 "\n", n);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL)
		;
	for (uint64_t i = 0; i < n; i++)
		quit_ok += ctl_quit(&cs[i]) == 0;
	open_n = 0;
	printf("closed sessions=%" PRIu64 " quit_ok=%" PRIu64 "\n", n, quit_ok);
	rc = quit_ok == n ? 0 : -1;
out:
	for (uint64_t i = 0; i < open_n; i++)
		ctl_close(&cs[i]);
	free(cs);
	return rc;
}

static void
usage(void)
{
	fputs("usage: ftpclient -p PORT -u USER -P PASS [-H HOST] [-d DIR] "
	      "[-r REF] [-4] [-A] [-T] [-S] [-s SRC] [-R BYTES/S]\n"
	      "                 [-w TARGET_DIR [-W]] MODE ARGS\n"
	      "modes: logins N | stor N SIZE | retr N SIZE | list CMD PATH |\n"
	      "       parallel K M SIZE | pstor K M SIZE | idle N\n",
	    stderr);
}

int
main(int argc, char **argv)
{
	struct rlimit rl;
	uint64_t a = 0, b = 0, c = 0, port = 0;
	const char *mode;
	int ch, rc = -1;

	while ((ch = getopt(argc, argv, "H:p:u:P:d:r:w:s:R:WS4AT")) != -1) {
		switch (ch) {
		case 'H':
			o.host = optarg;
			break;
		case 'p':
			if (parse_u64(optarg, 1, 65535, &port) != 0) {
				usage();
				return 2;
			}
			o.port = (unsigned)port;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'P':
			o.pass = optarg;
			break;
		case 'd':
			o.dir = optarg;
			break;
		case 'r':
			o.ref = optarg;
			break;
		case 'w':
			o.watch = optarg;
			break;
		case 'W':
			o.wait_each = 1;
			break;
		case 's':
			o.src = optarg;
			break;
		case 'R':
			if (parse_u64(optarg, 1, UINT64_MAX, &o.rate) != 0) {
				usage();
				return 2;
			}
			break;
		case '4':
			o.pasv = 1;
			break;
		case 'A':
			o.allo = 1;
			break;
		case 'T':
			o.publish = 1;
			break;
		case 'S':
			o.until_eof = 1;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (o.port == 0 || o.user == NULL || o.pass == NULL || optind >= argc) {
		usage();
		return 2;
	}
	/* idle and parallel hold many sockets. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	mode = argv[optind++];
	argc -= optind;
	argv += optind;
	if (strcmp(mode, "logins") == 0 && argc == 1 &&
	    parse_u64(argv[0], 1, 10000000, &a) == 0)
		rc = mode_logins(a);
	else if ((strcmp(mode, "stor") == 0 || strcmp(mode, "retr") == 0) &&
	    argc == 2 && parse_u64(argv[0], 1, 10000000, &a) == 0 &&
	    parse_u64(argv[1], 1, SIZE_MAX / 2, &b) == 0) {
		if (map_ref() == 0)
			rc = mode[0] == 's' ? mode_stor(a, (size_t)b) :
			                      mode_retr(a, (size_t)b);
	} else if (strcmp(mode, "list") == 0 && argc == 2)
		rc = mode_list(argv[0], argv[1]);
	else if (strcmp(mode, "parallel") == 0 && argc == 3 &&
	    parse_u64(argv[0], 1, MAX_CLIENTS, &a) == 0 &&
	    parse_u64(argv[1], 1, 1000000, &b) == 0 &&
	    parse_u64(argv[2], 1, SIZE_MAX / 2, &c) == 0) {
		if (map_ref() == 0)
			rc = mode_parallel(a, b, (size_t)c);
	} else if (strcmp(mode, "pstor") == 0 && argc == 3 &&
	    parse_u64(argv[0], 1, MAX_CLIENTS, &a) == 0 &&
	    parse_u64(argv[1], 1, 1000000, &b) == 0 &&
	    parse_u64(argv[2], 1, SIZE_MAX / 2, &c) == 0) {
		o.up_only = 1;
		if (map_ref() == 0)
			rc = mode_parallel(a, b, (size_t)c);
	} else if (strcmp(mode, "idle") == 0 && argc == 1 &&
	    parse_u64(argv[0], 1, 100000, &a) == 0)
		rc = mode_idle(a);
	else {
		usage();
		return 2;
	}
	fflush(stdout);
	return rc == 0 ? 0 : 1;
}
