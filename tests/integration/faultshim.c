/*
 * faultshim.c - a test-only LD_PRELOAD library that makes chosen system
 * calls of relayftpd fail (faults.py builds and loads it).
 *
 * RFTP_FAULT_FILE names a control file. While it exists, each of its
 * lines "CALL ERRNO SKIP COUNT [PATTERN]" makes calls of CALL whose path
 * (for a descriptor, what /proc/self/fd says it is) contains PATTERN fail
 * with ERRNO, after SKIP such calls went through, COUNT times (-1: every
 * time). A line "after CALL [PATTERN]" is a gate: the lines below it
 * count calls only once a call of CALL on PATTERN went through; with
 * "after-thread CALL [PATTERN]" only the calls of the thread that made
 * that call (the next queue write of the session that made a rename, not
 * a worker's that came between). Other
 * lines (faults.py adds "#N" to tell one arming from the next) are
 * ignored. A negative ERRNO -N delays the call N ms instead, then lets
 * it through (what the daemon does first is then seen first); a removed
 * control file (faults.py disarm) lets it go at once, so a test can hold
 * a call until it has seen what happens meanwhile, and its end is written
 * as "FAULT CALL(PATH) let go". "tcp_info" is no failure but a short
 * copy (see getsockopt below). A change of the file's text starts the counts over;
 * removed, every call goes through. Each failure made is
 * written to stderr as "FAULT CALL(PATH) -> ERRNO", so the test can wait
 * for it in the daemon's log.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_RULES 16
#define CTL_MAX   4096

struct rule {
	char call[32];
	char pattern[256];
	char after[32]; /* a gate's call */
	int err, gate;  /* gate: the gate rule this one waits for, or -1 */
	int bound;      /* a gate "after-thread": its rules count tid's calls */
	pid_t tid;      /* the thread that opened the gate */
	long skip, count, seen, made;
};

static struct rule rules[MAX_RULES];
static int nrules;
static char loaded[CTL_MAX];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Set while the shim itself runs: its own open, read and write pass. */
static __thread int inside;

/* Parses text, the control file's lines. */
static void
load(char *text)
{
	char *save = NULL;
	int gate = -1;

	nrules = 0;
	for (char *line = strtok_r(text, "\n", &save);
	     line != NULL && nrules < MAX_RULES;
	     line = strtok_r(NULL, "\n", &save)) {
		struct rule *r = &rules[nrules];

		memset(r, 0, sizeof(*r));
		r->gate = gate;
		r->bound = strncmp(line, "after-thread ", 13) == 0;
		if ((r->bound || strncmp(line, "after ", 6) == 0) &&
		    sscanf(line + (r->bound ? 13 : 6), "%31s %255s", r->after,
		        r->pattern) >= 1) {
			memcpy(r->call, r->after, sizeof(r->call));
			gate = nrules++;
		} else if (sscanf(line, "%31s %d %ld %ld %255s", r->call,
		               &r->err, &r->skip, &r->count, r->pattern) >= 4) {
			nrules++;
		}
	}
}

/* The control file's text in buf (empty if there is none). Read at
 * every call: a stat could not tell a file replaced within the same
 * clock tick (the same inode number reused, the same time). */
static void
read_ctl(const char *ctl, char *buf, size_t size)
{
	int fd = open(ctl, O_RDONLY | O_CLOEXEC);
	ssize_t n = 0;

	if (fd >= 0) {
		n = read(fd, buf, size - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
}

/* The errno a call of name on path (or fd) is to fail with; 0: none. */
static int
fault(const char *name, const char *path, int fd)
{
	const char *ctl = getenv("RFTP_FAULT_FILE");
	char buf[512], link[64], text[CTL_MAX];
	int err = 0, delay_ms = 0;

	if (ctl == NULL || inside)
		return 0;
	inside = 1;
	read_ctl(ctl, text, sizeof(text));
	pthread_mutex_lock(&lock);
	if (strcmp(text, loaded) != 0) {
		memcpy(loaded, text, sizeof(loaded));
		load(text);
	}
	for (int i = 0; i < nrules && err == 0; i++) {
		struct rule *r = &rules[i];

		if (strcmp(r->call, name) != 0 ||
		    (r->gate >= 0 &&
		        (rules[r->gate].made == 0 ||
		            (rules[r->gate].bound &&
		                rules[r->gate].tid !=
		                    (pid_t)syscall(SYS_gettid)))))
			continue;
		if (path == NULL && fd >= 0) {
			ssize_t n;

			snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
			n = readlink(link, buf, sizeof(buf) - 1);
			buf[n > 0 ? n : 0] = '\0';
			path = buf;
		}
		if (r->pattern[0] != '\0' &&
		    (path == NULL || strstr(path, r->pattern) == NULL))
			continue;
		if (r->after[0] != '\0') {
			/* A gate: opened, the call goes through. */
			if (r->made++ == 0)
				r->tid = (pid_t)syscall(SYS_gettid);
			continue;
		}
		if (++r->seen <= r->skip ||
		    (r->count >= 0 && r->made >= r->count))
			continue;
		r->made++;
		if (r->err < 0)
			delay_ms = -r->err;
		else
			err = r->err;
		fprintf(stderr, "FAULT %s(%s) -> %d\n", name,
		    path != NULL ? path : "", r->err);
	}
	pthread_mutex_unlock(&lock);
	/* In steps, to end once the control file is gone. */
	for (int slept = 0; slept < delay_ms && access(ctl, F_OK) == 0;
	     slept += 10)
		usleep(10 * 1000);
	if (delay_ms > 0)
		fprintf(stderr, "FAULT %s(%s) let go\n", name,
		    path != NULL ? path : "");
	inside = 0;
	return err;
}

#define REAL(fn)                     \
	static __typeof__(fn) *real; \
	if (real == NULL)            \
	real = (__typeof__(fn) *)dlsym(RTLD_NEXT, #fn)
#define FAIL_IF(name, path, fd)                 \
	do {                                    \
		int e_ = fault(name, path, fd); \
		if (e_ != 0) {                  \
			errno = e_;             \
			return -1;              \
		}                               \
	} while (0)

/* open's third argument, there only with O_CREAT or O_TMPFILE. */
#define MODE_ARG(fl, m)                                \
	do {                                           \
		if ((fl) & (O_CREAT | O_TMPFILE)) {    \
			va_list ap;                    \
			va_start(ap, fl);              \
			(m) = (mode_t)va_arg(ap, int); \
			va_end(ap);                    \
		}                                      \
	} while (0)

ssize_t
write(int fd, const void *b, size_t n)
{
	REAL(write);
	FAIL_IF("write", NULL, fd);
	return real(fd, b, n);
}

ssize_t
pwrite64(int fd, const void *b, size_t n, off_t o)
{
	REAL(pwrite64);
	FAIL_IF("pwrite", NULL, fd);
	return real(fd, b, n, o);
}

ssize_t
pwrite(int fd, const void *b, size_t n, off_t o)
{
	REAL(pwrite);
	FAIL_IF("pwrite", NULL, fd);
	return real(fd, b, n, o);
}

ssize_t
pread64(int fd, void *b, size_t n, off_t o)
{
	REAL(pread64);
	FAIL_IF("pread", NULL, fd);
	return real(fd, b, n, o);
}

ssize_t
pread(int fd, void *b, size_t n, off_t o)
{
	REAL(pread);
	FAIL_IF("pread", NULL, fd);
	return real(fd, b, n, o);
}

ssize_t
sendfile(int out, int in, off_t *off, size_t n)
{
	REAL(sendfile);
	FAIL_IF("sendfile", NULL, in);
	return real(out, in, off, n);
}

int
ftruncate(int fd, off_t len)
{
	REAL(ftruncate);
	FAIL_IF("ftruncate", NULL, fd);
	return real(fd, len);
}

ssize_t
read(int fd, void *b, size_t n)
{
	REAL(read);
	FAIL_IF("read", NULL, fd);
	return real(fd, b, n);
}

ssize_t
splice(int in, loff_t *oin, int out, loff_t *oout, size_t n, unsigned fl)
{
	REAL(splice);
	FAIL_IF("splice", NULL, out);
	return real(in, oin, out, oout, n, fl);
}

int
fsync(int fd)
{
	REAL(fsync);
	FAIL_IF("fsync", NULL, fd);
	return real(fd);
}

int
fdatasync(int fd)
{
	REAL(fdatasync);
	FAIL_IF("fdatasync", NULL, fd);
	return real(fd);
}

int
renameat2(int d1, const char *a, int d2, const char *b, unsigned fl)
{
	REAL(renameat2);
	FAIL_IF("renameat2", a, -1);
	return real(d1, a, d2, b, fl);
}

int
mkdirat(int d, const char *p, mode_t m)
{
	REAL(mkdirat);
	FAIL_IF("mkdirat", p, -1);
	return real(d, p, m);
}

int
unlinkat(int d, const char *p, int fl)
{
	REAL(unlinkat);
	FAIL_IF("unlinkat", p, -1);
	return real(d, p, fl);
}

/* "tcp_info KEEP+1 SKIP COUNT": a TCP_INFO read gets the kernel's copy
 * cut to KEEP bytes (the ERRNO field is one more, since 0 is no rule) and
 * the bytes past them left unwritten (zero here), as an older kernel's
 * shorter struct tcp_info would be. */
int
getsockopt(int fd, int level, int name, void *v, socklen_t *len)
{
	int keep, rc;

	REAL(getsockopt);
	rc = real(fd, level, name, v, len);
	if (rc == 0 && level == IPPROTO_TCP && name == TCP_INFO &&
	    (keep = fault("tcp_info", NULL, fd)) > 0 &&
	    (socklen_t)(keep - 1) < *len) {
		/* What an older kernel leaves: its length, nothing past. */
		memset((char *)v + (keep - 1), 0, *len - (socklen_t)(keep - 1));
		*len = (socklen_t)(keep - 1);
	}
	return rc;
}

int
socket(int d, int t, int p)
{
	REAL(socket);
	FAIL_IF("socket", NULL, -1);
	return real(d, t, p);
}

int
accept4(int s, struct sockaddr *a, socklen_t *l, int fl)
{
	REAL(accept4);
	FAIL_IF("accept4", NULL, -1);
	return real(s, a, l, fl);
}

int
epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
	REAL(epoll_ctl);
	FAIL_IF("epoll_ctl", NULL, fd);
	return real(ep, op, fd, ev);
}

/* relayftpd watches a folder by its /proc/self/fd name: the pattern is
 * matched against the folder's own path. */
int
inotify_add_watch(int fd, const char *path, uint32_t mask)
{
	char dir[512];
	ssize_t n;

	REAL(inotify_add_watch);
	n = readlink(path, dir, sizeof(dir) - 1);
	dir[n > 0 ? n : 0] = '\0';
	FAIL_IF("inotify_add_watch", n > 0 ? dir : path, -1);
	return real(fd, path, mask);
}

int
pthread_create(
    pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	int e;

	REAL(pthread_create);
	e = fault("pthread_create", NULL, -1);
	if (e != 0)
		return e; /* its error is its result, errno is left */
	return real(t, a, fn, arg);
}

int
openat(int d, const char *p, int fl, ...)
{
	mode_t m = 0;

	REAL(openat);
	MODE_ARG(fl, m);
	FAIL_IF("openat", p, -1);
	return real(d, p, fl, m);
}

int
open(const char *p, int fl, ...)
{
	mode_t m = 0;

	REAL(open);
	MODE_ARG(fl, m);
	FAIL_IF("open", p, -1);
	return real(p, fl, m);
}

/* A listing's read (the folder named by its descriptor). */
struct dirent *
readdir(DIR *d)
{
	int e, saved = errno;

	REAL(readdir);
	e = fault("readdir", NULL, dirfd(d));
	if (e != 0) {
		errno = e;
		return NULL;
	}
	/* A caller tells the end from an error by errno, which it cleared
	 * (the control file's open may have set it). */
	errno = saved;
	return real(d);
}

/* openat2 has no glibc wrapper: relayftpd calls it through syscall(2). */
long
syscall(long nr, ...)
{
	long a[6];
	va_list ap;

	REAL(syscall);
	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_openat2)
		FAIL_IF("openat2", (const char *)a[1], -1);
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
