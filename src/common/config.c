/*
 * config.c - loads and validates relayftpd.ini.
 *
 * Owns: the [server], [tls], [mirror] and [admin] keys, one typed table each (the
 * redis standardConfig idea) with its parser and bounds, so an unknown key,
 * a bad value or a value out of range is reported with the file, line and
 * key the admin must fix; the rules that span sections; listen addresses
 * and relative paths. [target:NAME] sections are config_target.c's. The
 * same handlers read a file (config_load) or the entries of the library's
 * config builder (config_load_entries), and both end in load_finish.
 */
#include "common/config.h"

#include "common/config_target.h"
#include "common/inifile.h"
#include "common/numparse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

enum key_type {
	KEY_U64,
	KEY_SIZE, /* a whole number of bytes, K/M/G/T allowed (numparse.h) */
	KEY_BOOL,
	KEY_PATH, /* relative to the config's folder */
	KEY_STRING,
	KEY_LISTEN,
	KEY_PORTS,
	KEY_IPV4,
	KEY_LOGLEVEL,
	KEY_OCTAL,
	KEY_USERNAME,
	KEY_TLSVER,
	KEY_IMPLICIT,
	KEY_ADMIN_LISTEN, /* one ADDR:PORT, or "" = off */
};

struct key_def {
	const char *name;
	enum key_type type;
	size_t offset;
	size_t size; /* for strings and paths */
	uint64_t min, max;
};

#define U64(n, f, lo, hi)                                         \
	{                                                         \
		n, KEY_U64, offsetof(struct config, f), 0, lo, hi \
	}
#define STR(n, t, f)                                      \
	{                                                 \
		n, t, offsetof(struct config, f),         \
		    sizeof(((struct config *)0)->f), 0, 0 \
	}

static const struct key_def server_keys[] = {
	{ "listen", KEY_LISTEN, 0, 0, 0, 0 },
	STR("users_file", KEY_PATH, users_file),
	U64("max_clients", max_clients, 1, 100000),
	U64("max_clients_per_ip", max_clients_per_ip, 1, 100000),
	{ "passive_ports", KEY_PORTS, 0, 0, 0, 0 },
	STR("passive_address", KEY_IPV4, passive_address),
	U64("idle_timeout", idle_timeout, 1, 86400),
	U64("data_timeout", data_timeout, 1, 3600),
	STR("xferlog", KEY_PATH, xferlog),
	{ "anonymous", KEY_BOOL, offsetof(struct config, anonymous), 0, 0, 0 },
	U64("login_fail_delay_ms", login_fail_delay_ms, 0, 60000),
	U64("password_cache_ttl", password_cache_ttl, 0, 86400),
	U64("upload_close_grace_ms", upload_close_grace_ms, 0, 1000),
	U64("login_fail_max", login_fail_max, 0, 1000000),
	U64("login_fail_window", login_fail_window, 1, 86400),
	U64("login_ban_time", login_ban_time, 1, 7 * 86400),
	{ "fsync_uploads", KEY_BOOL, offsetof(struct config, fsync_uploads), 0,
	    0, 0 },
	{ "log_level", KEY_LOGLEVEL, offsetof(struct config, log_level), 0, 0,
	    0 },
	STR("run_as", KEY_USERNAME, run_as),
	{ "umask", KEY_OCTAL, offsetof(struct config, umask), 0, 0, 0777 },
	U64("login_timeout", login_timeout, 1, 86400),
	U64("data_min_rate", data_min_rate, 0, 1ULL << 40),
	STR("log_file", KEY_PATH, log_file),
};

#define TLSBOOL(n, f)                                                \
	{                                                            \
		n, KEY_BOOL, offsetof(struct config, tls.f), 0, 0, 0 \
	}

static const struct key_def tls_keys[] = {
	STR("cert", KEY_PATH, tls.cert),
	STR("key", KEY_PATH, tls.key),
	STR("ciphers", KEY_STRING, tls.ciphers),
	STR("ciphersuites", KEY_STRING, tls.ciphersuites),
	STR("min_version", KEY_TLSVER, tls.min_version),
	TLSBOOL("require_login_tls", require_login_tls),
	TLSBOOL("require_data_tls", require_data_tls),
	TLSBOOL("require_session_reuse", require_session_reuse),
	{ "implicit_listen", KEY_IMPLICIT, 0, 0, 0, 0 },
};

static const struct key_def mirror_keys[] = {
	STR("queue", KEY_PATH, mirror.queue),
	U64("retry_initial", mirror.retry_initial, 1, 86400),
	U64("retry_max", mirror.retry_max, 1, 7 * 86400),
	U64("workers_per_target", mirror.workers_per_target, 1,
	    RFTP_WORKERS_PER_TARGET_MAX),
	U64("max_attempts", mirror.max_attempts, 0, 1000000),
	{ "watch", KEY_BOOL, offsetof(struct config, mirror.watch), 0, 0, 0 },
	U64("watch_debounce_ms", mirror.watch_debounce_ms, 0, 600000),
	U64("watch_pending_max", mirror.watch_pending_max, 1, 100000000),
	{ "stream_min_size", KEY_SIZE,
	    offsetof(struct config, mirror.stream_min_size), 0, 0, 1ULL << 50 },
	U64("stream_keep_idle", mirror.stream_keep_idle, 1,
	    RFTP_STREAM_KEEP_IDLE_MAX),
	{ "express_max_size", KEY_SIZE,
	    offsetof(struct config, mirror.express_max_size), 0, 0,
	    1ULL << 50 },
};

static const struct key_def admin_keys[] = {
	{ "listen", KEY_ADMIN_LISTEN, 0, 0, 0, 0 },
	STR("token_file", KEY_PATH, admin.token_file),
	STR("cert", KEY_PATH, admin.cert),
	STR("key", KEY_PATH, admin.key),
	U64("max_connections", admin.max_connections, 1, 1024),
	U64("timeout", admin.timeout, 1, 3600),
};

struct load_ctx {
	struct config *cfg;
	struct buf *errs;
	int nerr;
	int saw_listen;
	int listen_line, implicit_line; /* for listen_clash's message */
	int saw_queue;
	int retry_line;    /* last retry_* key, for the bounds message */
	int tls_line;      /* first [tls] key, for the "needs a cert" message */
	int admin_line[3]; /* [admin] listen, token_file, cert/key */
	/* A file: the keys seen so far ("\nsection\tkey\n"), so that one
	 * given twice is refused, as users.ini refuses it (the last would win
	 * unseen), in a section given twice too (its keys are merged). The
	 * library's entries set a key again on purpose: no seen there. */
	struct buf *seen;
};

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_clients = RFTP_DEFAULT_MAX_CLIENTS;
	cfg->max_clients_per_ip = RFTP_DEFAULT_MAX_PER_IP;
	cfg->idle_timeout = RFTP_DEFAULT_IDLE_TIMEOUT;
	cfg->data_timeout = RFTP_DEFAULT_DATA_TIMEOUT;
	cfg->login_fail_delay_ms = RFTP_DEFAULT_LOGIN_FAIL_DELAY_MS;
	cfg->password_cache_ttl = RFTP_DEFAULT_PWCACHE_TTL;
	cfg->upload_close_grace_ms = RFTP_DEFAULT_UPLOAD_CLOSE_GRACE_MS;
	cfg->login_fail_max = 10;
	cfg->login_fail_window = 300;
	cfg->login_ban_time = 900;
	cfg->log_level = LOG_INFO;
	cfg->umask = 022;
	cfg->login_timeout = RFTP_DEFAULT_LOGIN_TIMEOUT;
	cfg->data_min_rate = RFTP_DEFAULT_DATA_MIN_RATE;
	fmt_fixed(cfg->tls.min_version, sizeof(cfg->tls.min_version), "1.2");
	cfg->tls.require_session_reuse = 1;
	cfg->mirror.retry_initial = 1;
	cfg->mirror.retry_max = 300;
	cfg->mirror.workers_per_target = 4;
	cfg->mirror.watch = 1;
	cfg->mirror.watch_debounce_ms = 500;
	cfg->mirror.watch_pending_max = RFTP_DEFAULT_WATCH_PENDING_MAX;
	cfg->mirror.stream_min_size = RFTP_DEFAULT_STREAM_MIN_SIZE;
	cfg->mirror.stream_keep_idle = RFTP_DEFAULT_STREAM_KEEP_IDLE;
	cfg->mirror.express_max_size = RFTP_DEFAULT_EXPRESS_MAX_SIZE;
	cfg->admin.max_connections = 32;
	cfg->admin.timeout = 10;
	config_parse_listen("127.0.0.1:2121", &cfg->listen[0]);
	cfg->nlisten = 1;
}

int
config_resolve_path(const char *base, const char *p, char *out, size_t outlen)
{
	if (p[0] == '/')
		return fmt_fixed(out, outlen, "%s", p);
	return fmt_fixed(out, outlen, "%s/%s", base, p);
}

int
config_parse_listen(const char *text, struct listen_addr *out)
{
	char host[64];
	const char *colon, *h;
	size_t hlen;
	uint64_t port;

	memset(out, 0, sizeof(*out));
	if (strlen(text) >= sizeof(out->text))
		return -1;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		h = text + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL)
			return -1;
		h = text;
		hlen = (size_t)(colon - text);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (parse_u64(colon + 1, 65535, &port) < 0)
		return -1;
	if (text[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		out->len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&out->ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -1;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		out->len = sizeof(*s4);
	}
	return fmt_fixed(out->text, sizeof(out->text), "%s", text);
}

int
config_is_loopback(const struct listen_addr *a)
{
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&a->ss;

		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)&a->ss;
		const uint8_t *b = s6->sin6_addr.s6_addr;

		return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && b[12] == 127);
	}
	return 0;
}

/* Parses a list of ADDR:PORT into out[RFTP_LISTEN_MAX]. */
static unsigned
listen_port(const struct listen_addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

static int
set_listen(
    struct listen_addr *out, unsigned *n, const char *value, const char **why)
{
	char item[80];
	const char *cur = value;
	int rc;

	*n = 0;
	while ((rc = parse_list_next(&cur, item, sizeof(item))) == 1) {
		if (*n >= RFTP_LISTEN_MAX)
			return -1;
		if (config_parse_listen(item, &out[*n]) < 0)
			return -1;
		/* The second bind of one ADDR:PORT fails at start with
		 * "Address already in use", as if another program held it. */
		for (unsigned i = 0; i < *n; i++) {
			if (out[i].len == out[*n].len &&
			    memcmp(&out[i].ss, &out[*n].ss, out[i].len) == 0 &&
			    listen_port(&out[i]) != 0) {
				*why = "an address given twice";
				return -1;
			}
		}
		(*n)++;
	}
	return rc == 0 && *n > 0 ? 0 : -1;
}

/* Whether a folder on path (absolute) is a symbolic link. */
static int
folder_is_link(const char *path)
{
	char prefix[PATH_MAX];
	struct stat st;

	for (const char *p = strchr(path + 1, '/'); p != NULL;
	     p = strchr(p + 1, '/')) {
		if (fmt_fixed(prefix, sizeof(prefix), "%.*s", (int)(p - path),
		        path) < 0)
			return 0;
		if (lstat(prefix, &st) == 0 && S_ISLNK(st.st_mode))
			return 1;
	}
	return 0;
}

/*
 * A file the daemon creates or appends to (log_file, xferlog, the queue):
 * check said OK and the daemon then refused to start when its folder was
 * missing or the path was a folder (config_check_outfiles). A queue that
 * exists must be a SQLite file (its first 16 bytes); none may be a
 * symbolic link (log_open_append, queue_open), nor may a folder on the
 * queue's path (SQLite's NOFOLLOW refuses a link anywhere in it).
 * read_head 0: the queue's head is not read. In a library program another
 * server may hold that file: closing any descriptor of it drops the
 * fcntl() locks SQLite holds there for the whole process.
 */
static int
check_outfile(const char *path, int sqlite, int read_head, const char **why)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	/* The open's rule (log_open_append, the queue's NOFOLLOW), said
	 * here with its reason. */
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		*why = "a symbolic link (opened as root in a folder run_as "
		       "may write, so a link is not followed: name the file "
		       "itself)";
		return -1;
	}
	/* The queue's open said only "unable to open database file" for
	 * a queue in a linked folder (/var/lib/relayftpd moved to another
	 * disk; found from outside). */
	if (sqlite && path[0] == '/' && folder_is_link(path)) {
		*why = "a folder on its path is a symbolic link, which the "
		       "queue's open does not follow (name the real folder)";
		return -1;
	}
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			*why = "a folder, not a file";
			return -1;
		}
		if (sqlite && read_head && S_ISREG(st.st_mode) &&
		    st.st_size > 0) {
			char head[16] = { 0 };
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			ssize_t got =
			    fd >= 0 ? read(fd, head, sizeof(head)) : -1;

			if (fd >= 0)
				close(fd);
			if (got >= 0 &&
			    ((size_t)got < sizeof(head) ||
			        memcmp(head, "SQLite format 3", 16) != 0)) {
				*why = "an existing file that is not a SQLite "
				       "database (not a queue)";
				return -1;
			}
		}
		return 0;
	}
	if (fmt_fixed(dir, sizeof(dir), "%s", path) < 0)
		return 0;
	slash = strrchr(dir, '/');
	if (slash == NULL)
		return 0;
	*(slash == dir ? slash + 1 : slash) = '\0';
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		*why = "its folder does not exist";
		return -1;
	}
	return 0;
}

static int
valid_username(const char *s)
{
	size_t n = strlen(s);

	return n <= RFTP_USER_MAX && strspn(s, CONFIG_NAME_CHARS) == n;
}

static int
set_key(struct load_ctx *lc, const struct key_def *k, const char *value,
    const char **why)
{
	char *base = (char *)lc->cfg;
	uint64_t v;
	int b;

	switch (k->type) {
	case KEY_U64:
		*why = "expected a whole number";
		if (parse_u64(value, UINT64_MAX, &v) < 0)
			return -1;
		*why = "out of range";
		if (v < k->min || v > k->max)
			return -1;
		*(uint64_t *)(base + k->offset) = v;
		return 0;
	case KEY_SIZE:
		*why = "expected a size (bytes, or with K, M, G or T)";
		if (parse_size(value, &v) < 0)
			return -1;
		*why = "out of range";
		if (v < k->min || v > k->max)
			return -1;
		*(uint64_t *)(base + k->offset) = v;
		return 0;
	case KEY_BOOL:
		*why = "expected on or off";
		if (parse_bool(value, &b) < 0)
			return -1;
		*(int *)(base + k->offset) = b;
		return 0;
	case KEY_PATH:
		*why = "path too long";
		if (value[0] == '\0') {
			*(base + k->offset) = '\0';
			return 0;
		}
		return config_resolve_path(
		    lc->cfg->dir, value, base + k->offset, k->size);
	case KEY_STRING:
		*why = "too long";
		return fmt_fixed(base + k->offset, k->size, "%s", value);
	case KEY_LISTEN:
		*why = "expected ADDR:PORT[, ADDR:PORT] (IPv6 as [ADDR]:PORT)";
		lc->saw_listen = 1;
		return set_listen(
		    lc->cfg->listen, &lc->cfg->nlisten, value, why);
	case KEY_IMPLICIT:
		*why = "expected ADDR:PORT[, ADDR:PORT] (IPv6 as [ADDR]:PORT)";
		if (value[0] == '\0') {
			lc->cfg->tls.nimplicit = 0;
			return 0;
		}
		return set_listen(
		    lc->cfg->tls.implicit, &lc->cfg->tls.nimplicit, value, why);
	case KEY_OCTAL: {
		char *end;
		unsigned long m;

		*why = "expected an octal mode such as 022 or 077";
		if (value[0] < '0' || value[0] > '7')
			return -1;
		m = strtoul(value, &end, 8);
		if (*end != '\0' || m > k->max)
			return -1;
		*(uint64_t *)(base + k->offset) = m;
		return 0;
	}
	case KEY_USERNAME:
		*why = "expected a system user name";
		if (!valid_username(value))
			return -1;
		return fmt_fixed(base + k->offset, k->size, "%s", value);
	case KEY_TLSVER:
		*why = "expected 1.2 or 1.3";
		if (strcmp(value, "1.2") != 0 && strcmp(value, "1.3") != 0)
			return -1;
		return fmt_fixed(base + k->offset, k->size, "%s", value);
	case KEY_PORTS:
		*why = "expected LOW-HIGH with 1 <= LOW <= HIGH <= 65535";
		/* Empty: the default, the kernel's ephemeral range (the man
		 * page says so; it was refused). */
		if (value[0] == '\0') {
			lc->cfg->pasv_lo = lc->cfg->pasv_hi = 0;
			return 0;
		}
		return parse_port_range(
		    value, &lc->cfg->pasv_lo, &lc->cfg->pasv_hi);
	case KEY_IPV4: {
		struct in_addr a;

		*why = "expected an IPv4 address";
		if (value[0] != '\0' && inet_pton(AF_INET, value, &a) != 1)
			return -1;
		return fmt_fixed(base + k->offset, k->size, "%s", value);
	}
	case KEY_ADMIN_LISTEN:
		*why = "expected ADDR:PORT (IPv6 as [ADDR]:PORT), or nothing "
		       "for off";
		lc->cfg->admin.enabled = value[0] != '\0';
		if (value[0] == '\0')
			return 0;
		return config_parse_listen(value, &lc->cfg->admin.listen);
	case KEY_LOGLEVEL:
		*why = "expected error, warn, info or debug";
		return log_level_parse(
		    value, (enum log_level *)(void *)(base + k->offset));
	}
	return -1;
}

/* Sets key from a table; returns 0 if the table has no such key. */
static int
table_key(struct load_ctx *lc, const struct key_def *keys, size_t n, int lineno,
    const char *key, const char *value)
{
	const char *why = "invalid value";

	for (size_t i = 0; i < n; i++) {
		if (strcmp(keys[i].name, key) != 0)
			continue;
		if (set_key(lc, &keys[i], value, &why) < 0) {
			inifile_error(lc->errs, lc->cfg->path, lineno, key,
			    "%s (got '%s')", why, value);
			lc->nerr++;
		}
		return 1;
	}
	return 0;
}

/* Whether this key was seen before in this section of the file: then it
 * is refused at its line. */
static int
given_twice(
    struct load_ctx *lc, int lineno, const char *section, const char *key)
{
	struct buf item;
	int twice;

	if (lc->seen == NULL || key == NULL)
		return 0;
	buf_init(&item, 2 * RFTP_LINE_MAX);
	if (buf_printf(&item, "\n%s\t%s\n", section, key) < 0) {
		buf_free(&item); /* longer than any key we know: no check */
		return 0;
	}
	twice = strstr(buf_str(lc->seen), buf_str(&item)) != NULL;
	if (!twice)
		buf_add(lc->seen, item.data + 1, item.len - 1);
	buf_free(&item);
	if (!twice)
		return 0;
	inifile_error(lc->errs, lc->cfg->path, lineno, key,
	    "given twice in [%s]: one value per key (the last would win "
	    "unseen)",
	    section);
	lc->nerr++;
	return 1;
}

static void
on_key(void *ctx, int lineno, const char *section, const char *key,
    const char *value)
{
	struct load_ctx *lc = ctx;

	if (given_twice(lc, lineno, section, key))
		return;
	if (key == NULL) {
		/* A section header: only targets exist without keys. */
		if (strncmp(section, "target:", 7) == 0)
			config_target_line(
			    lc->cfg, lc->errs, lineno, section + 7, NULL, NULL);
		return;
	}
	if (strcmp(section, "server") == 0) {
		if (strcmp(key, "listen") == 0)
			lc->listen_line = lineno;
		if (strcmp(key, "log_file") == 0)
			lc->cfg->log_file_line = lineno;
		else if (strcmp(key, "xferlog") == 0)
			lc->cfg->xferlog_line = lineno;
		if (table_key(lc, server_keys,
		        sizeof(server_keys) / sizeof(server_keys[0]), lineno,
		        key, value))
			return;
	} else if (strcmp(section, "mirror") == 0) {
		if (strcmp(key, "queue") == 0) {
			lc->saw_queue = 1;
			lc->cfg->queue_line = lineno;
			if (value[0] == '\0') {
				inifile_error(lc->errs, lc->cfg->path, lineno,
				    key, "expected the path of the queue file");
				lc->nerr++;
				return;
			}
		}
		if (strcmp(key, "retry_max") == 0 ||
		    strcmp(key, "retry_initial") == 0)
			lc->retry_line = lineno;
		if (table_key(lc, mirror_keys,
		        sizeof(mirror_keys) / sizeof(mirror_keys[0]), lineno,
		        key, value))
			return;
	} else if (strcmp(section, "tls") == 0) {
		if (lc->tls_line == 0)
			lc->tls_line = lineno;
		if (strcmp(key, "implicit_listen") == 0)
			lc->implicit_line = lineno;
		if (table_key(lc, tls_keys,
		        sizeof(tls_keys) / sizeof(tls_keys[0]), lineno, key,
		        value))
			return;
	} else if (strcmp(section, "admin") == 0) {
		if (strcmp(key, "listen") == 0)
			lc->admin_line[0] = lineno;
		else if (strcmp(key, "token_file") == 0)
			lc->admin_line[1] = lineno;
		else if (strcmp(key, "cert") == 0)
			lc->admin_line[2] = lc->cfg->admin.cert_line = lineno;
		else if (strcmp(key, "key") == 0)
			lc->admin_line[2] = lc->cfg->admin.key_line = lineno;
		if (table_key(lc, admin_keys,
		        sizeof(admin_keys) / sizeof(admin_keys[0]), lineno, key,
		        value))
			return;
	} else if (strncmp(section, "target:", 7) == 0) {
		lc->nerr += config_target_line(
		    lc->cfg, lc->errs, lineno, section + 7, key, value);
		return;
	} else {
		inifile_error(lc->errs, lc->cfg->path, lineno, key,
		    "unknown section [%s] (expected [server], [tls], [mirror], "
		    "[admin] or [target:NAME])",
		    section);
		lc->nerr++;
		return;
	}
	inifile_error(lc->errs, lc->cfg->path, lineno, key,
	    "unknown key in [%s]", section);
	lc->nerr++;
}

/* A default file beside the config whose path would not fit. */
static int
default_too_long(const struct config *cfg, struct buf *errs, const char *name)
{
	buf_printf(errs,
	    "%s: the folder's path is too long for the default %s\n", cfg->path,
	    name);
	return 1;
}

/* The bearer token: token_file's first line without surrounding blanks,
 * and without the UTF-8 byte order mark that Windows editors put first
 * (it would be taken for the token's first bytes, and every request
 * refused). 0, or -1 if it cannot be read, is empty, longer than out, or
 * holds a control byte (no HTTP header can carry one). */
static int
read_token(const char *path, char *out, size_t outlen)
{
	static const char bom[] = "\xef\xbb\xbf";
	char line[512];
	FILE *f = fopen(path, "re");
	size_t a = 0, n;

	if (f == NULL)
		return -1;
	if (fgets(line, (int)sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	n = strlen(line);
	if (n == sizeof(line) - 1 && line[n - 1] != '\n')
		return -1; /* longer than line: never cut a secret */
	while (n > 0 && strchr(" \t\r\n", line[n - 1]) != NULL)
		n--;
	if (n >= sizeof(bom) - 1 && memcmp(line, bom, sizeof(bom) - 1) == 0)
		a = sizeof(bom) - 1;
	while (a < n && (line[a] == ' ' || line[a] == '\t'))
		a++;
	if (n == a || n - a >= outlen)
		return -1;
	for (size_t i = a; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			return -1;
	memcpy(out, line + a, n - a);
	out[n - a] = '\0';
	return 0;
}

/* [admin]'s rules: an address others can reach needs a token (the status
 * and retry endpoints are not for the world), and the files must load. */
static int
admin_check(struct config *cfg, struct buf *errs, const int line[3])
{
	struct admin_config *a = &cfg->admin;
	int n = 0;

	if (a->enabled && a->token_file[0] == '\0' &&
	    !config_is_loopback(&a->listen)) {
		inifile_error(errs, cfg->path, line[0], "listen",
		    "%s is not a loopback address: set token_file",
		    a->listen.text);
		n++;
	}
	if (a->token_file[0] != '\0' &&
	    read_token(a->token_file, a->token, sizeof(a->token)) < 0) {
		inifile_error(errs, cfg->path, line[1], "token_file",
		    "cannot read %s, or its first line is empty, longer "
		    "than 255 bytes or holds a control byte",
		    a->token_file);
		n++;
	}
	if ((a->cert[0] == '\0') != (a->key[0] == '\0')) {
		inifile_error(errs, cfg->path, line[2], "cert",
		    "HTTPS needs both cert and key");
		n++;
	} else if (a->cert[0] != '\0' &&
	    (access(a->cert, R_OK) != 0 || access(a->key, R_OK) != 0)) {
		inifile_error(errs, cfg->path, line[2], "cert",
		    "cannot read %s or %s", a->cert, a->key);
		n++;
	}
	return n;
}

/* What config_load and config_load_entries check once every key is in:
 * the rules that span keys and sections, and the default queue path.
 * parse_rc is the parse's result (nonzero: its problems are in errs).
 * Returns config_load's result. */
/* Whether a and b cannot both be bound: one port (not 0), one family, and
 * one address or the family's any address in either (sockets are bound
 * IPV6_V6ONLY, so 0.0.0.0 and [::] do not clash). */
static int
listen_overlap(const struct listen_addr *a, const struct listen_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family ||
	    listen_port(a) != listen_port(b) || listen_port(a) == 0)
		return 0;
	if (a->ss.ss_family == AF_INET) {
		in_addr_t x =
		    ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr;
		in_addr_t y =
		    ((const struct sockaddr_in *)&b->ss)->sin_addr.s_addr;

		return x == y || x == htonl(INADDR_ANY) ||
		    y == htonl(INADDR_ANY);
	}
	{
		const struct in6_addr *x =
		    &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
		const struct in6_addr *y =
		    &((const struct sockaddr_in6 *)&b->ss)->sin6_addr;

		return IN6_ARE_ADDR_EQUAL(x, y) || IN6_IS_ADDR_UNSPECIFIED(x) ||
		    IN6_IS_ADDR_UNSPECIFIED(y);
	}
}

/*
 * listen and [tls] implicit_listen, all together: two addresses that
 * cannot both be bound ("127.0.0.1:21, 0.0.0.0:21", or one address in
 * both keys) passed check, and the start failed with "Address already in
 * use" as if another program held the port.
 */
static int
listen_clash(struct load_ctx *lc)
{
	const struct config *cfg = lc->cfg;
	const struct listen_addr *all[2 * RFTP_LISTEN_MAX];
	int line[2 * RFTP_LISTEN_MAX];
	unsigned n = 0;

	for (unsigned i = 0; i < cfg->nlisten; i++) {
		line[n] = lc->listen_line;
		all[n++] = &cfg->listen[i];
	}
	for (unsigned i = 0; i < cfg->tls.nimplicit; i++) {
		line[n] = lc->implicit_line;
		all[n++] = &cfg->tls.implicit[i];
	}
	for (unsigned i = 0; i < n; i++) {
		for (unsigned j = i + 1; j < n; j++) {
			if (!listen_overlap(all[i], all[j]))
				continue;
			inifile_error(lc->errs, cfg->path, line[j],
			    line[j] == lc->implicit_line && j >= cfg->nlisten ?
			        "implicit_listen" :
			        "listen",
			    "%s and %s cannot both be bound (one port, and "
			    "one address or the any address)",
			    all[i]->text, all[j]->text);
			return 1;
		}
	}
	return 0;
}

static int
load_finish(struct load_ctx *lc, int parse_rc)
{
	struct config *cfg = lc->cfg;
	struct buf *errs = lc->errs;

	if (parse_rc != 0)
		lc->nerr++;
	lc->nerr += listen_clash(lc);
	lc->nerr += config_targets_check(cfg, errs);
	if (cfg->mirror.retry_max < cfg->mirror.retry_initial) {
		inifile_error(errs, cfg->path, lc->retry_line, "retry_max",
		    "below retry_initial (%llu)",
		    (unsigned long long)cfg->mirror.retry_initial);
		lc->nerr++;
	}
	if (cfg->tls.cert[0] == '\0' &&
	    (cfg->tls.require_login_tls || cfg->tls.require_data_tls ||
	        cfg->tls.nimplicit > 0 || cfg->tls.key[0] != '\0')) {
		inifile_error(errs, cfg->path, lc->tls_line, "cert",
		    "[tls] requires TLS or sets key/implicit_listen but has "
		    "no cert");
		lc->nerr++;
	}
	lc->nerr += admin_check(cfg, errs, lc->admin_line);
	if (!lc->saw_queue &&
	    config_resolve_path(cfg->dir, "relayftpd-queue.db",
	        cfg->mirror.queue, sizeof(cfg->mirror.queue)) < 0)
		lc->nerr += default_too_long(cfg, errs, "relayftpd-queue.db");
	return lc->nerr == 0 ? 0 : -1;
}

int
config_load(const char *path, struct config *cfg, struct buf *errs)
{
	struct buf seen;
	struct load_ctx lc = { .cfg = cfg, .errs = errs, .seen = &seen };
	char *slash;
	int rc, users_cut;

	config_defaults(cfg);
	if (realpath(path, cfg->path) == NULL) {
		/* Why, for the admin: a typo (ENOENT) and a folder the
		 * daemon's user may not enter (EACCES) want other fixes. */
		buf_printf(errs, "%s: cannot open config file: %s\n", path,
		    strerror(errno));
		return -1;
	}
	/* Same size as path: this copy cannot be cut. */
	fmt_fixed(cfg->dir, sizeof(cfg->dir), "%s", cfg->path);
	slash = strrchr(cfg->dir, '/');
	if (slash != NULL && slash != cfg->dir)
		*slash = '\0';
	/* A default that does not fit is an error only if no users_file
	 * line replaces it (fmt_fixed left it ""). */
	users_cut = config_resolve_path(
	    cfg->dir, "users.ini", cfg->users_file, sizeof(cfg->users_file));
	/* The seen list starts with a line end: every item is "\n...\n". */
	buf_init(&seen, RFTP_CONFIG_SEEN_MAX);
	buf_adds(&seen, "\n");
	rc = inifile_parse(cfg->path, on_key, &lc, errs);
	buf_free(&seen);
	lc.seen = NULL;
	if (users_cut < 0 && cfg->users_file[0] == '\0')
		lc.nerr += default_too_long(cfg, errs, "users.ini");
	return load_finish(&lc, rc);
}

int
config_load_entries(const char *name, const struct inifile_entry *e, size_t n,
    struct config *cfg, struct buf *errs)
{
	struct load_ctx lc = { .cfg = cfg, .errs = errs };

	/* users_file stays "" (config_defaults): the library's users come
	 * from its builder or its authenticate callback, not from a file
	 * beside a config that has no folder. */
	config_defaults(cfg);
	if (fmt_fixed(cfg->path, sizeof(cfg->path), "%s", name) < 0) {
		buf_printf(errs, "%.64s...: config name too long\n", name);
		return -1;
	}
	if (getcwd(cfg->dir, sizeof(cfg->dir)) == NULL) {
		buf_printf(errs,
		    "%s: cannot read the current folder (the base of "
		    "relative paths): %s\n",
		    cfg->path, strerror(errno));
		return -1;
	}
	return load_finish(&lc, inifile_feed(e, n, on_key, &lc));
}

int
config_check_outfiles(const struct config *cfg, int as_daemon, struct buf *errs)
{
	const struct {
		const char *key, *path;
		int line, sqlite, daemon_only;
	} f[] = {
		{ "log_file", cfg->log_file, cfg->log_file_line, 0, 1 },
		{ "xferlog", cfg->xferlog, cfg->xferlog_line, 0, 0 },
		{ "queue", cfg->mirror.queue, cfg->queue_line, 1, 0 },
	};
	int nerr = 0;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		const char *why = NULL;

		if (f[i].path[0] == '\0' || (f[i].daemon_only && !as_daemon) ||
		    check_outfile(f[i].path, f[i].sqlite, as_daemon, &why) == 0)
			continue;
		/* The queue's default has no line: the file is named. */
		if (f[i].line > 0)
			inifile_error(errs, cfg->path, f[i].line, f[i].key,
			    "%s (got '%s')", why, f[i].path);
		else
			buf_printf(errs, "%s: key '%s' (default %s): %s\n",
			    cfg->path, f[i].key, f[i].path, why);
		nerr++;
	}
	return nerr;
}

int
config_bind_error(const struct listen_addr *a, int any_port)
{
	struct sockaddr_storage ss = a->ss;
	int fd, one = 1, err = 0;

	if (ss.ss_family == AF_INET && any_port)
		((struct sockaddr_in *)&ss)->sin_port = 0;
	else if (ss.ss_family == AF_INET6 && any_port)
		((struct sockaddr_in6 *)&ss)->sin6_port = 0;
	else if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		return 0;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	/* As a listener binds: a port in TIME_WAIT is free to it. */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(
		    fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, a->len) < 0)
		err = errno;
	close(fd);
	return err;
}

int
config_address_foreign(const struct listen_addr *a)
{
	return config_bind_error(a, 1) == EADDRNOTAVAIL;
}

int
config_warn_foreign_listen(const struct config *cfg, struct buf *warnings)
{
	const struct {
		const char *key;
		const struct listen_addr *v;
		unsigned n;
	} keys[] = {
		{ "listen", cfg->listen, cfg->nlisten },
		{ "implicit_listen", cfg->tls.implicit, cfg->tls.nimplicit },
		{ "listen", &cfg->admin.listen, cfg->admin.enabled ? 1u : 0u },
	};
	int n = 0;

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		for (unsigned i = 0; i < keys[k].n; i++) {
			if (!config_address_foreign(&keys[k].v[i]))
				continue;
			buf_printf(warnings,
			    "%s: key '%s'%s: warning: %s is not an address of "
			    "this host: the daemon cannot start here\n",
			    cfg->path, keys[k].key, k == 2 ? " of [admin]" : "",
			    keys[k].v[i].text);
			n++;
		}
	return n;
}

size_t
config_push_slots(const struct config *cfg)
{
	return (size_t)cfg->mirror.ntargets *
	    ((size_t)cfg->mirror.workers_per_target +
	        (cfg->mirror.express_max_size > 0));
}

/* Whether two listen lists name the same addresses, in the same order. */
static int
listens_differ(const struct listen_addr *a, unsigned na,
    const struct listen_addr *b, unsigned nb)
{
	if (na != nb)
		return 1;
	for (unsigned i = 0; i < na; i++)
		if (strcmp(a[i].text, b[i].text) != 0)
			return 1;
	return 0;
}

/* Whether key k of a section's table holds other values in a and b. */
static int
key_differs(
    const struct key_def *k, const struct config *a, const struct config *b)
{
	const char *pa = (const char *)a + k->offset;
	const char *pb = (const char *)b + k->offset;

	switch (k->type) {
	case KEY_U64:
	case KEY_SIZE:
	case KEY_OCTAL:
		return *(const uint64_t *)(const void *)pa !=
		    *(const uint64_t *)(const void *)pb;
	case KEY_BOOL:
		return *(const int *)(const void *)pa !=
		    *(const int *)(const void *)pb;
	case KEY_LOGLEVEL:
		return a->log_level != b->log_level;
	case KEY_PATH:
	case KEY_STRING:
	case KEY_IPV4:
	case KEY_USERNAME:
	case KEY_TLSVER:
		return strncmp(pa, pb, k->size) != 0;
	case KEY_LISTEN:
		return listens_differ(
		    a->listen, a->nlisten, b->listen, b->nlisten);
	case KEY_PORTS:
		return a->pasv_lo != b->pasv_lo || a->pasv_hi != b->pasv_hi;
	case KEY_IMPLICIT:
		return listens_differ(a->tls.implicit, a->tls.nimplicit,
		    b->tls.implicit, b->tls.nimplicit);
	case KEY_ADMIN_LISTEN:
		return listens_differ(&a->admin.listen,
		    a->admin.enabled ? 1u : 0u, &b->admin.listen,
		    b->admin.enabled ? 1u : 0u);
	}
	return 1;
}

int
config_diff(const struct config *was, const struct config *now, struct buf *out)
{
	static const struct {
		const char *section;
		const struct key_def *keys;
		size_t n;
	} sections[] = {
		{ "server", server_keys,
		    sizeof(server_keys) / sizeof(server_keys[0]) },
		{ "tls", tls_keys, sizeof(tls_keys) / sizeof(tls_keys[0]) },
		{ "mirror", mirror_keys,
		    sizeof(mirror_keys) / sizeof(mirror_keys[0]) },
		{ "admin", admin_keys,
		    sizeof(admin_keys) / sizeof(admin_keys[0]) },
	};
	int lines = 0;

	for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++)
		for (size_t i = 0; i < sections[s].n; i++) {
			const struct key_def *k = &sections[s].keys[i];
			int differs = key_differs(k, was, now);

			/* The token is read from token_file at start: a new
			 * token in the same file is a change too (named by
			 * its key, never shown). */
			if (k->offset ==
			        offsetof(struct config, admin.token_file) &&
			    strcmp(was->admin.token, now->admin.token) != 0)
				differs = 1;
			if (!differs)
				continue;
			if (buf_printf(out, "[%s] %s\n", sections[s].section,
			        k->name) < 0)
				return -1;
			lines++;
		}
	return lines;
}
