/*
 * bench/nullftpd.c: the least an FTP server can do for an upload, to
 * measure the ceiling that the client, the protocol and this host's kernel
 * set on a small-file row (bench/run.py, the "ceiling" column).
 *
 * It is not a server: one session at a time, any USER and PASS, and a STOR
 * reads the data connection to its end and throws the bytes away (no file,
 * no lock, no rename, no quota, no log). Its passive listener is opened
 * once and kept for the whole session, so an EPSV costs it no socket. What
 * a real server does on top of this is what separates its rate from the
 * ceiling; a target above the ceiling is out of reach for every server on
 * this host, whatever it does.
 *
 * Usage: nullftpd [-n] [-s DIR] PORTFILE (-n: a new listener for each
 * EPSV, as servers do; -s: STOR creates and writes the file in DIR, the
 * least a server that stores does). It listens on 127.0.0.1 on a port the kernel
 * picks, writes that port to PORTFILE, and serves sessions until it is
 * killed. Replies follow RFC 959 and RFC 2428 for the commands the bench's
 * client sends (USER PASS TYPE CWD EPSV ALLO STOR QUIT); any other gets
 * 502.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define LINE_CAP  1024
#define DATA_BUF  (256 * 1024)
#define TIMEOUT_S 30 /* any wait: a client that vanished costs this */

struct ctl {
	int fd;
	char in[8192];
	size_t off, len;
};

/* A listener on 127.0.0.1, port picked by the kernel; its port in *port. */
static int
listen_any(unsigned *port)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static int
reply(struct ctl *c, const char *text)
{
	size_t n = strlen(text);

	return send(c->fd, text, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

/* One command line without its CRLF into line; 0, or -1 at the end. */
static int
next_line(struct ctl *c, char *line, size_t cap)
{
	for (;;) {
		char *nl = memchr(c->in + c->off, '\n', c->len - c->off);
		ssize_t n;

		if (nl != NULL) {
			size_t k = (size_t)(nl - (c->in + c->off));

			if (k > 0 && c->in[c->off + k - 1] == '\r')
				k--;
			if (k >= cap)
				k = cap - 1;
			memcpy(line, c->in + c->off, k);
			line[k] = '\0';
			c->off = (size_t)(nl - c->in) + 1;
			return 0;
		}
		if (c->off > 0) {
			memmove(c->in, c->in + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		if (c->len == sizeof(c->in))
			return -1;
		n = recv(c->fd, c->in + c->len, sizeof(c->in) - c->len, 0);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
}

/* A receive and send timeout on fd: no wait without a bound. */
static int
bounded(int fd)
{
	struct timeval tv = { TIMEOUT_S, 0 };

	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
	        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 ?
	    0 :
	    -1;
}

/* -s: the home (store_root) and the session's folder in it (store_dir,
 * set by CWD, one level below the home) that STOR writes into: the least
 * storing is create, write, close. -1: the bytes are thrown away. */
static int store_root = -1;
static int store_dir = -1;
/* -n: a new listener for each EPSV, closed after its accept, as servers
 * do; otherwise one listener serves the whole session. */
static int new_listener;

/* Reads the data connection to its end into name (or nowhere); 0, or -1
 * if it broke or the file could not be written. */
static int
drain(int lfd, const char *name, char *buf)
{
	struct pollfd pf = { lfd, POLLIN, 0 };
	int fd = -1, out = -1, rc = 0;
	ssize_t n;

	if (poll(&pf, 1, TIMEOUT_S * 1000) != 1 ||
	    (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		return -1;
	if (bounded(fd) < 0) {
		close(fd);
		return -1;
	}
	if (store_dir >= 0) {
		out = openat(store_dir, name,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		    0644);
		if (out < 0)
			rc = -1;
	}
	while ((n = recv(fd, buf, DATA_BUF, 0)) > 0)
		if (out >= 0 && write(out, buf, (size_t)n) != n)
			rc = -1;
	close(fd);
	if (out >= 0 && close(out) != 0)
		rc = -1;
	return n == 0 ? rc : -1;
}

/* CWD to a folder of the home (-s), or nothing to do without one. */
static const char *
cwd(const char *path)
{
	int fd;

	if (store_root < 0)
		return "250 OK.\r\n";
	while (*path == '/')
		path++;
	fd = openat(
	    store_root, *path ? path : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return "550 No such folder.\r\n";
	if (store_dir != store_root)
		close(store_dir);
	store_dir = fd;
	return "250 OK.\r\n";
}

static void
session(int fd, char *buf)
{
	struct ctl c = { .fd = fd };
	char line[LINE_CAP], epsv[64];
	unsigned port = 0;
	int lfd = -1, one = 1;

	/* Every server replies without Nagle's wait: a reply sent while
	 * the previous one is unacknowledged would wait for the client's
	 * delayed ACK (40 ms). */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bounded(fd) < 0 || reply(&c, "220 nullftpd\r\n") < 0)
		return;
	while (next_line(&c, line, sizeof(line)) == 0) {
		const char *r = "502 Not here.\r\n";

		if (strncasecmp(line, "USER ", 5) == 0)
			r = "331 Any password.\r\n";
		else if (strncasecmp(line, "PASS ", 5) == 0)
			r = "230 In.\r\n";
		else if (strncasecmp(line, "TYPE ", 5) == 0 ||
		    strncasecmp(line, "ALLO ", 5) == 0)
			r = "200 OK.\r\n";
		else if (strncasecmp(line, "CWD ", 4) == 0)
			r = cwd(line + 4);
		else if (strcasecmp(line, "EPSV") == 0) {
			if (lfd < 0)
				lfd = listen_any(&port);
			if (lfd < 0)
				r = "425 No listener.\r\n";
			else {
				snprintf(epsv, sizeof(epsv),
				    "229 Extended Passive Mode (|||%u|)\r\n",
				    port);
				r = epsv;
			}
		} else if (strncasecmp(line, "STOR ", 5) == 0) {
			if (lfd < 0)
				r = "425 EPSV first.\r\n";
			else if (reply(&c, "150 Send.\r\n") < 0)
				break;
			else
				r = drain(lfd, line + 5, buf) == 0 ?
				    "226 Done.\r\n" :
				    "426 Data connection broke.\r\n";
			if (new_listener && lfd >= 0) {
				close(lfd);
				lfd = -1;
			}
		} else if (strcasecmp(line, "QUIT") == 0) {
			(void)reply(&c, "221 Bye.\r\n");
			break;
		}
		if (reply(&c, r) < 0)
			break;
	}
	if (lfd >= 0)
		close(lfd);
}

int
main(int argc, char **argv)
{
	unsigned port = 0;
	char *buf;
	FILE *f;
	int lfd;

	int ch;

	while ((ch = getopt(argc, argv, "ns:")) != -1) {
		if (ch == 'n')
			new_listener = 1;
		else if (ch == 's') {
			store_root = open(optarg, O_RDONLY | O_DIRECTORY);
			store_dir = store_root;
			if (store_root < 0) {
				perror(optarg);
				return 1;
			}
		} else
			break;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: nullftpd [-n] [-s DIR] PORTFILE\n");
		return 2;
	}
	buf = malloc(DATA_BUF);
	lfd = listen_any(&port);
	if (buf == NULL || lfd < 0) {
		perror("nullftpd");
		return 1;
	}
	f = fopen(argv[optind], "w");
	if (f == NULL || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0) {
		perror(argv[optind]);
		return 1;
	}
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("accept");
			return 1;
		}
		session(fd, buf);
		close(fd);
		if (store_dir != store_root) {
			close(store_dir); /* each session starts at home */
			store_dir = store_root;
		}
	}
}
