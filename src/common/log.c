/*
 * log.c - writes log lines to stderr (or to [server] log_file) with a
 * timestamp and level.
 *
 * Each line is built in a local buffer and written with one write(2), which
 * keeps lines from different session threads whole without a lock. A
 * log_file is opened O_APPEND once at start; log_reopen (SIGUSR1, after
 * logrotate renamed it) opens the path again and dup2()s the new file onto
 * the same descriptor number: dup2 swaps the file atomically, so a thread
 * writing at that moment writes whole lines to the old file or to the new
 * one, never to a closed or reused descriptor.
 *
 * On stderr that is the systemd journal's stream each line starts with
 * its sd-daemon(3) priority, so journalctl -p filters by level.
 *
 * A library program may run several servers, each with a log callback:
 * the route is a thread-local pointer, set in each thread a server starts
 * (thread_start passes it on), so no line needs to say which server it
 * belongs to and the hundreds of log_msg calls stay as they are.
 */
#include "common/log.h"

#include "common/buf.h"
#include "common/json.h" /* utf8_seq */
#include "common/numparse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* The longest line written; a longer message is cut and ends in "...". */
#define LOG_LINE_MAX 2048

static enum log_level log_level_now = LOG_INFO;
/* Set once by log_open_file before any thread starts; never changed after
 * (log_reopen keeps the number and changes the file behind it). */
static int log_fd = STDERR_FILENO;
static char log_path[PATH_MAX];
static _Thread_local const struct log_route *log_route_now;
/* Lines a full disk kept from the log since the last one written, and
 * whether the file ends in a cut line (write_line). */
static atomic_uint log_lost;
static atomic_int log_cut;

/* Whether stderr is journald's stream: -1 not looked at yet, 0, 1. */
static atomic_int log_journal = -1;

static const char *const level_names[] = {
	[LOG_ERR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void
log_route_bind(const struct log_route *route)
{
	log_route_now = route;
}

const struct log_route *
log_route_current(void)
{
	return log_route_now;
}

void
log_set_level(enum log_level level)
{
	log_level_now = level;
}

int
log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++) {
		if (level_names[i] != NULL &&
		    strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int
log_enabled(enum log_level level)
{
	const struct log_route *r = log_route_now;

	return level <= (r != NULL ? r->level : log_level_now);
}

ssize_t
log_append(int fd, atomic_int *cut, char *text, size_t len)
{
	static char nl[] = "\n";
	struct iovec v[2] = { { nl, 1 }, { text, len } };
	int was = atomic_exchange(cut, 0);
	ssize_t n = writev(fd, v + (was ? 0 : 1), was ? 2 : 1);

	if (n <= 0) {
		/* Nothing written: the file ends as it did. */
		if (was)
			atomic_store(cut, 1);
		return n < 0 ? -1 : 0;
	}
	n -= was; /* the newline is not text */
	if (n > 0 && n < (ssize_t)len && text[n - 1] != '\n')
		atomic_store(cut, 1);
	return n;
}

/*
 * systemd.exec(5): a service's stderr connected to the journal has
 * $JOURNAL_STREAM set to "DEVICE:INODE" of that stream. Compared with
 * stderr itself, so a child whose stderr was redirected to a file (a
 * test, a shell's 2>log) is not taken for the journal. Looked at once:
 * threads that race here compute the same answer.
 */
static int
stderr_is_journal(void)
{
	int j = atomic_load(&log_journal);
	const char *env, *colon;
	char dev[24];
	uint64_t d, i;
	struct stat st;

	if (j >= 0)
		return j;
	j = 0;
	env = getenv("JOURNAL_STREAM");
	colon = env != NULL ? strchr(env, ':') : NULL;
	if (colon != NULL && (size_t)(colon - env) < sizeof(dev)) {
		memcpy(dev, env, (size_t)(colon - env));
		dev[colon - env] = '\0';
		j = parse_u64(dev, UINT64_MAX, &d) == 0 &&
		    parse_u64(colon + 1, UINT64_MAX, &i) == 0 &&
		    fstat(STDERR_FILENO, &st) == 0 &&
		    (uint64_t)st.st_dev == d && (uint64_t)st.st_ino == i;
	}
	atomic_store(&log_journal, j);
	return j;
}

void
log_addr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
	const void *a = NULL;
	int family = sa->sa_family;

	if (family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		a = &s6->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			a = s6->sin6_addr.s6_addr + 12;
			family = AF_INET;
		}
	} else if (family == AF_INET) {
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	}
	if (a == NULL || inet_ntop(family, a, out, (socklen_t)outlen) == NULL)
		fmt_fixed(out, outlen, "?");
}

const char *
log_stderr_priority(enum log_level level)
{
	/* sd-daemon(3)'s SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG. */
	static const char *const prio[] = {
		[LOG_ERR] = "<3>",
		[LOG_WARN] = "<4>",
		[LOG_INFO] = "<6>",
		[LOG_DEBUG] = "<7>",
	};

	return stderr_is_journal() ? prio[level] : "";
}

/*
 * Writes one line (stamp: the length of its time and the blank after it).
 * A full disk, or a quota, writes part of a line or none: the file is
 * then left in a cut line, and the lines after it lost. The next write
 * that goes through first ends the cut line and says how many were lost,
 * in the same write(2) as its own line, so the log stays one line per
 * entry and no gap goes unsaid. Counters, not a lock: two threads that
 * both fail count both lines.
 */
static void
write_line(enum log_level level, const char *line, size_t len, size_t stamp)
{
	char out[LOG_LINE_MAX + 160];
	unsigned lost = atomic_exchange(&log_lost, 0);
	/* Under journald each line starts with its priority, which the
	 * journal takes off and keeps (journalctl -p err); never in a file. */
	int journal = log_fd == STDERR_FILENO;
	const char *prio = journal ? log_stderr_priority(level) : "";
	size_t o = 0, said, plen = strlen(prio);
	ssize_t n;
	int k;

	if (lost > 0) {
		k = snprintf(out + o, sizeof(out) - o,
		    "%s%.*swarn log: %u lines lost (the log could not be "
		    "written: disk full or an error)\n",
		    journal ? log_stderr_priority(LOG_WARN) : "", (int)stamp,
		    line, lost);
		if (k > 0)
			o += (size_t)k;
	}
	said = o;
	memcpy(out + o, prio, plen);
	o += plen;
	memcpy(out + o, line, len);
	o += len;
	n = log_append(log_fd, &log_cut, out, o);
	if (n == (ssize_t)o)
		return;
	/* None of it, or cut within what was to be said: said again next
	 * time. */
	atomic_fetch_add(&log_lost, n < (ssize_t)said ? lost + 1 : 1);
}

__attribute__((format(printf, 3, 0))) static void
emit(const struct log_route *r, enum log_level level, const char *fmt,
    va_list ap)
{
	char line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	size_t len, stamp = 0;
	int n;

	len = 0;
	if (r == NULL) {
		/* The callback keeps its own time and level. */
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line + len, sizeof(line) - len, ".%03ldZ ",
		    ts.tv_nsec / 1000000);
		if (n > 0)
			len += (size_t)n;
		stamp = len;
		n = snprintf(
		    line + len, sizeof(line) - len, "%s ", level_names[level]);
		if (n > 0)
			len += (size_t)n;
	}
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(line) - len) {
		/* Truncated: mark it so a reader knows the line was cut. */
		len = sizeof(line) - 5;
		memcpy(line + len, "...", 3);
		len += 3;
	} else {
		len += (size_t)n;
	}
	/* A message that ends in a line break (error text gathered for a
	 * terminal, such as a config file's problems) would otherwise end
	 * in a stray '?' below: this function adds the one line end. */
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	/* Control characters from clients never reach the log as such. */
	log_defang(line, len);
	if (r != NULL) {
		line[len] = '\0';
		r->fn(r->ctx, level, line);
		return;
	}
	line[len++] = '\n';
	write_line(level, line, len, stamp);
}

size_t
log_unsafe_len(const char *s, size_t len)
{
	unsigned char c = (unsigned char)s[0];
	unsigned char d = len > 1 ? (unsigned char)s[1] : 0;
	unsigned char e = len > 2 ? (unsigned char)s[2] : 0;

	if (len == 0)
		return 0;
	if (c < 0x20 || c == 0x7f)
		return 1;
	if ((c == 0xc2 && d >= 0x80 && d <= 0x9f) || (c == 0xd8 && d == 0x9c))
		return 2;
	if (c == 0xe2 &&
	    ((d == 0x80 &&
	         (e == 0x8e || e == 0x8f || e == 0xa8 || e == 0xa9 ||
	             (e >= 0xaa && e <= 0xae))) ||
	        (d == 0x81 && e >= 0xa6 && e <= 0xa9)))
		return 3;
	return 0;
}

void
log_defang(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		size_t n = log_unsafe_len(s + i, len - i);

		/* A byte that starts no UTF-8 character (a Latin-1 name, a
		 * cut sequence) too: journald keeps a line holding one as
		 * binary data, which journalctl does not show, and JSON log
		 * shippers refuse it. A valid character is passed whole. */
		if (n == 0 && (unsigned char)s[i] >= 0x80) {
			size_t k =
			    utf8_seq((const unsigned char *)s + i, len - i);

			if (k > 0) {
				i += k - 1;
				continue;
			}
			n = 1;
		}
		if (n == 0)
			continue;
		memset(s + i, '?', n);
		i += n - 1;
	}
}

void
log_fput_text(FILE *f, const char *s, int quote)
{
	const char *end = s + strlen(s);

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		size_t n = log_unsafe_len(s, (size_t)(end - s)), k = 1;

		/* A valid character goes whole; a byte that starts none (a
		 * Latin-1 name, a character cut to fit) is shown as a byte. */
		if (n == 0 && c >= 0x80) {
			k = utf8_seq(
			    (const unsigned char *)s, (size_t)(end - s));
			if (k == 0)
				n = 1;
		}
		if (quote && (c == '"' || c == '\\')) {
			fprintf(f, "\\%c", c);
		} else if (n > 0) {
			/* As its bytes: a C1 control as UTF-8 writes it (CSI
			 * is 0xc2 0x9b), U+2028, a direction mark. */
			for (size_t i = 0; i < n; i++)
				fprintf(f, "\\x%02x", (unsigned char)s[i]);
			s += n - 1;
		} else {
			fwrite(s, 1, k, f);
			s += k - 1;
		}
	}
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	emit(log_route_now, level, fmt, ap);
	va_end(ap);
}

void
log_write(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(NULL, level, fmt, ap);
	va_end(ap);
}

/* The log file's mode: its lines name users and addresses. */
#define LOG_FILE_MODE 0640

int
log_open_append(const char *path)
{
	return open(path,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW,
	    LOG_FILE_MODE);
}

int
log_open_file(const char *path, char *err, size_t errlen)
{
	int fd;

	if (fmt_fixed(log_path, sizeof(log_path), "%s", path) < 0) {
		fmt_fixed(err, errlen, "path too long");
		log_path[0] = '\0';
		return -1;
	}
	fd = log_open_append(path);
	if (fd < 0) {
		fmt_fixed(err, errlen, "%s", strerror(errno));
		log_path[0] = '\0';
		return -1;
	}
	log_fd = fd;
	return 0;
}

int
log_reopen(void)
{
	char err[256];
	int fd;

	if (log_path[0] == '\0')
		return 0; /* stderr: journald or the terminal; nothing to do */
	fd = log_open_append(log_path);
	if (fd < 0) {
		/* The old file stays in use: no line is lost, and the admin
		 * learns why the new file stays empty. */
		fmt_fixed(err, sizeof(err), "%s", strerror(errno));
		log_err("cannot reopen log_file %s: %s (still writing to the "
		        "file opened before)",
		    log_path, err);
		return -1;
	}
	if (dup2(fd, log_fd) < 0) {
		fmt_fixed(err, sizeof(err), "%s", strerror(errno));
		close(fd);
		log_err("cannot reopen log_file %s: dup2: %s", log_path, err);
		return -1;
	}
	close(fd);
	log_info("log_file %s reopened", log_path);
	return 0;
}

void
log_lines(enum log_level level, const char *prefix, const char *text)
{
	while (*text != '\0') {
		size_t n = strcspn(text, "\n");

		if (n > 0 && n <= INT_MAX)
			log_msg(level, "%s%.*s", prefix, (int)n, text);
		text += n;
		if (*text == '\n')
			text++;
	}
}
