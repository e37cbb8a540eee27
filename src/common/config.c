/*
 * config.c - loads and validates relayftpd.ini.
 *
 * A typed table (the redis standardConfig idea) lists every key of [server]
 * with its parser and bounds, so an unknown key, a bad value or a value out
 * of range is reported with the file, line and key the admin must fix.
 */
#include "common/config.h"

#include "common/inifile.h"
#include "common/numparse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum key_type {
	KEY_U64,
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
};

#define TLSBOOL(n, f)                                                   \
	{                                                               \
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
	U64("workers_per_target", mirror.workers_per_target, 1, 64),
	U64("max_attempts", mirror.max_attempts, 0, 1000000),
	{ "watch", KEY_BOOL, offsetof(struct config, mirror.watch), 0, 0, 0 },
	U64("watch_debounce_ms", mirror.watch_debounce_ms, 0, 600000),
	U64("watch_pending_max", mirror.watch_pending_max, 1, 100000000),
};

struct load_ctx {
	struct config *cfg;
	struct buf *errs;
	int nerr;
	int saw_listen;
	int saw_queue;
	int retry_line; /* last retry_* key, for the bounds message */
	int tls_line;   /* first [tls] key, for the "needs a cert" message */
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
	cfg->upload_close_grace_ms = RFTP_DEFAULT_UPLOAD_CLOSE_GRACE_MS;
	cfg->login_fail_max = 10;
	cfg->login_fail_window = 300;
	cfg->login_ban_time = 900;
	cfg->log_level = LOG_INFO;
	cfg->umask = 022;
	cfg->login_timeout = RFTP_DEFAULT_LOGIN_TIMEOUT;
	cfg->data_min_rate = RFTP_DEFAULT_DATA_MIN_RATE;
	snprintf(cfg->tls.min_version, sizeof(cfg->tls.min_version), "1.2");
	cfg->tls.require_session_reuse = 1;
	cfg->mirror.retry_initial = 1;
	cfg->mirror.retry_max = 300;
	cfg->mirror.workers_per_target = 2;
	cfg->mirror.watch = 1;
	cfg->mirror.watch_debounce_ms = 500;
	cfg->mirror.watch_pending_max = RFTP_DEFAULT_WATCH_PENDING_MAX;
	config_parse_listen("127.0.0.1:2121", &cfg->listen[0]);
	cfg->nlisten = 1;
}

int
config_resolve_path(const char *base, const char *p, char *out, size_t outlen)
{
	int n;

	if (p[0] == '/')
		n = snprintf(out, outlen, "%s", p);
	else
		n = snprintf(out, outlen, "%s/%s", base, p);
	return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
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
	snprintf(out->text, sizeof(out->text), "%s", text);
	return 0;
}

/* Parses a list of ADDR:PORT into out[RFTP_LISTEN_MAX]. */
static int
set_listen(struct listen_addr *out, unsigned *n, const char *value)
{
	char item[80];
	const char *cur = value;
	int rc;

	/* A later listen line replaces, not extends, the earlier one. */
	*n = 0;
	while ((rc = parse_list_next(&cur, item, sizeof(item))) == 1) {
		if (*n >= RFTP_LISTEN_MAX)
			return -1;
		if (config_parse_listen(item, &out[*n]) < 0)
			return -1;
		(*n)++;
	}
	return rc == 0 && *n > 0 ? 0 : -1;
}

static int
valid_username(const char *s)
{
	size_t n = strlen(s);

	if (n > RFTP_USER_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= 'A' && s[i] <= 'Z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		        s[i] == '-' || s[i] == '.'))
			return 0;
	return 1;
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
		if (strlen(value) >= k->size)
			return -1;
		snprintf(base + k->offset, k->size, "%s", value);
		return 0;
	case KEY_LISTEN:
		*why = "expected ADDR:PORT[, ADDR:PORT] (IPv6 as [ADDR]:PORT)";
		lc->saw_listen = 1;
		return set_listen(lc->cfg->listen, &lc->cfg->nlisten, value);
	case KEY_IMPLICIT:
		*why = "expected ADDR:PORT[, ADDR:PORT] (IPv6 as [ADDR]:PORT)";
		if (value[0] == '\0') {
			lc->cfg->tls.nimplicit = 0;
			return 0;
		}
		return set_listen(
		    lc->cfg->tls.implicit, &lc->cfg->tls.nimplicit, value);
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
		snprintf(base + k->offset, k->size, "%s", value);
		return 0;
	case KEY_TLSVER:
		*why = "expected 1.2 or 1.3";
		if (strcmp(value, "1.2") != 0 && strcmp(value, "1.3") != 0)
			return -1;
		snprintf(base + k->offset, k->size, "%s", value);
		return 0;
	case KEY_PORTS:
		*why = "expected LOW-HIGH with 1 <= LOW <= HIGH <= 65535";
		return parse_port_range(
		    value, &lc->cfg->pasv_lo, &lc->cfg->pasv_hi);
	case KEY_IPV4: {
		struct in_addr a;

		*why = "expected an IPv4 address";
		if (value[0] != '\0' && inet_pton(AF_INET, value, &a) != 1)
			return -1;
		snprintf(base + k->offset, k->size, "%s", value);
		return 0;
	}
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

static int
valid_target_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > RFTP_NAME_MAX || strcmp(s, "none") == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= 'A' && s[i] <= 'Z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		        s[i] == '-' || s[i] == '.' || s[i] == '@'))
			return 0;
	return 1;
}

static struct target_config *
target_for(struct load_ctx *lc, const char *name, int lineno)
{
	struct mirror_config *m = &lc->cfg->mirror;
	struct target_config *t;

	for (unsigned i = 0; i < m->ntargets; i++)
		if (strcmp(m->targets[i].name, name) == 0)
			return &m->targets[i];
	if (m->ntargets >= RFTP_TARGETS_MAX)
		return NULL;
	t = &m->targets[m->ntargets++];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->verify = VERIFY_SIZE;
	t->tls_verify = 1;
	t->host_key_verify = 1;
	t->line = lineno;
	return t;
}

static int
copy_str(char *dst, size_t dstlen, const char *value)
{
	if (strlen(value) >= dstlen)
		return -1;
	snprintf(dst, dstlen, "%s", value);
	return 0;
}

/* Reads the first line of a secret file into out. */
static int
read_secret(const char *path, char *out, size_t outlen)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL)
		return -1;
	if (fgets(out, (int)outlen, f) == NULL)
		out[0] = '\0';
	n = strlen(out);
	/* A line that did not fit would be cut silently: refuse it. */
	if (n == outlen - 1 && out[n - 1] != '\n' && fgetc(f) != EOF) {
		fclose(f);
		return -1;
	}
	fclose(f);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	return 0;
}

/*
 * "SHA256:<base64>" or "<base64>" (ssh-keygen -l, or -E sha256) of a
 * 32-byte digest: 43 base64 characters, an optional '=' after them. Keeps
 * the 43 characters (libcurl compares up to the padding).
 */
static int
parse_sha256_fingerprint(const char *value, char *out, size_t outlen)
{
	const char *p = value;
	size_t n;

	if (strncmp(p, "SHA256:", 7) == 0)
		p += 7;
	n = strspn(p,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/");
	if (n != 43 || (p[n] != '\0' && strcmp(p + n, "=") != 0) || n >= outlen)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* A readable file at value (relative to the config's folder) into out. */
static const char *
readable_path(struct load_ctx *lc, const char *value, char *out, size_t outlen)
{
	if (value[0] == '\0')
		return "expected a file";
	if (config_resolve_path(lc->cfg->dir, value, out, outlen) < 0)
		return "path too long";
	if (access(out, R_OK) != 0)
		return "cannot read the file";
	return NULL;
}

/* The keys only an sftp:// target takes; NULL if key is not one. */
static const char *
ssh_key_name(const char *key)
{
	static const char *const names[] = { "known_hosts", "host_key_sha256",
		"host_key_verify", "private_key", "public_key",
		"passphrase_file" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(key, names[i]) == 0)
			return names[i];
	return NULL;
}

/* Sets one of the sftp-only keys; returns why it is wrong, or NULL. */
static const char *
target_ssh_key(struct load_ctx *lc, struct target_config *t, int lineno,
    const char *key, const char *value)
{
	char path[PATH_MAX];
	int b;

	if (t->ssh_line == 0) {
		t->ssh_line = lineno;
		t->ssh_key = ssh_key_name(key);
	}
	if (strcmp(key, "known_hosts") == 0) {
		t->host_key_line = lineno;
		return readable_path(
		    lc, value, t->known_hosts, sizeof(t->known_hosts));
	}
	if (strcmp(key, "host_key_sha256") == 0) {
		t->host_key_line = lineno;
		if (parse_sha256_fingerprint(value, t->host_key_sha256,
		        sizeof(t->host_key_sha256)) < 0)
			return "expected the base64 SHA256 fingerprint of the "
			       "host key, as 'ssh-keygen -lf KEY.pub' prints "
			       "it (43 characters, 'SHA256:' optional)";
		return NULL;
	}
	if (strcmp(key, "host_key_verify") == 0) {
		t->host_key_line = lineno;
		if (parse_bool(value, &b) < 0)
			return "expected on or off";
		t->host_key_verify = b;
		return NULL;
	}
	if (strcmp(key, "private_key") == 0)
		return readable_path(
		    lc, value, t->private_key, sizeof(t->private_key));
	t->key_extra_line = lineno;
	if (strcmp(key, "public_key") == 0)
		return readable_path(
		    lc, value, t->public_key, sizeof(t->public_key));
	/* passphrase_file */
	if (value[0] == '\0' ||
	    config_resolve_path(lc->cfg->dir, value, path, sizeof(path)) < 0 ||
	    read_secret(path, t->passphrase, sizeof(t->passphrase)) < 0)
		return "cannot read the passphrase file, or its first line is "
		       "longer than 255 bytes";
	return NULL;
}

static void
target_key(struct load_ctx *lc, struct target_config *t, int lineno,
    const char *key, const char *value)
{
	const char *why = NULL;
	char path[PATH_MAX];
	int b;

	if (strcmp(key, "url") == 0) {
		if (strncmp(value, "ftp://", 6) != 0 &&
		    strncmp(value, "ftps://", 7) != 0 &&
		    strncmp(value, "sftp://", 7) != 0)
			why = "expected an ftp://, ftps:// or sftp:// URL";
		else if (copy_str(t->url, sizeof(t->url), value) < 0)
			why = "URL too long";
	} else if (strcmp(key, "user") == 0) {
		if (copy_str(t->user, sizeof(t->user), value) < 0)
			why = "too long";
	} else if (strcmp(key, "password") == 0) {
		if (copy_str(t->password, sizeof(t->password), value) < 0)
			why = "too long";
	} else if (strcmp(key, "password_file") == 0) {
		if (config_resolve_path(
		        lc->cfg->dir, value, path, sizeof(path)) < 0 ||
		    read_secret(path, t->password, sizeof(t->password)) < 0)
			why = "cannot read the password file, or its first "
			      "line is longer than 255 bytes";
	} else if (strcmp(key, "ca_file") == 0) {
		/* A self-signed or private-CA target stays verified; an
		 * empty value is the system's store, as with no key. */
		if (value[0] == '\0')
			t->ca_file[0] = '\0';
		else if (config_resolve_path(lc->cfg->dir, value, t->ca_file,
		        sizeof(t->ca_file)) < 0)
			why = "path too long";
		else if (access(t->ca_file, R_OK) != 0)
			why = "cannot read the CA file";
	} else if (strcmp(key, "verify") == 0) {
		if (strcmp(value, "size") == 0)
			t->verify = VERIFY_SIZE;
		else if (strcmp(value, "hash") == 0)
			t->verify = VERIFY_HASH;
		else if (strcmp(value, "none") == 0)
			t->verify = VERIFY_NONE;
		else
			why = "expected size, hash or none";
	} else if (strcmp(key, "layout") == 0) {
		if (strcmp(value, "user") == 0)
			t->flat = 0;
		else if (strcmp(value, "flat") == 0)
			t->flat = 1;
		else
			why = "expected user or flat";
	} else if (strcmp(key, "explicit_tls") == 0) {
		if (parse_bool(value, &b) < 0)
			why = "expected on or off";
		else
			t->explicit_tls = b;
	} else if (strcmp(key, "tls_verify") == 0 ||
	    strcmp(key, "propagate_deletes") == 0 ||
	    strcmp(key, "propagate_renames") == 0) {
		if (parse_bool(value, &b) < 0)
			why = "expected on or off";
		else if (key[0] == 't')
			t->tls_verify = b;
		else if (strcmp(key, "propagate_deletes") == 0)
			t->propagate_deletes = b;
		else
			t->propagate_renames = b;
	} else if (strcmp(key, "include") == 0) {
		if (copy_str(t->include, sizeof(t->include), value) < 0)
			why = "too long";
	} else if (strcmp(key, "exclude") == 0) {
		if (copy_str(t->exclude, sizeof(t->exclude), value) < 0)
			why = "too long";
	} else if (ssh_key_name(key) != NULL) {
		why = target_ssh_key(lc, t, lineno, key, value);
	} else {
		why = "unknown key (expected url, user, password, "
		      "password_file, verify, layout, include, exclude, "
		      "propagate_deletes, propagate_renames, tls_verify, "
		      "ca_file, explicit_tls, known_hosts, host_key_sha256, "
		      "host_key_verify, private_key, public_key, "
		      "passphrase_file)";
	}
	if (why != NULL) {
		inifile_error(lc->errs, lc->cfg->path, lineno, key, "%s", why);
		lc->nerr++;
	}
}

static void
on_key(void *ctx, int lineno, const char *section, const char *key,
    const char *value)
{
	struct load_ctx *lc = ctx;
	struct target_config *t;

	if (key == NULL) {
		/* A section header: only targets exist without keys. */
		if (strncmp(section, "target:", 7) == 0 &&
		    valid_target_name(section + 7))
			target_for(lc, section + 7, lineno);
		return;
	}
	if (strcmp(section, "server") == 0) {
		if (table_key(lc, server_keys,
		        sizeof(server_keys) / sizeof(server_keys[0]), lineno,
		        key, value))
			return;
	} else if (strcmp(section, "mirror") == 0) {
		if (strcmp(key, "queue") == 0) {
			lc->saw_queue = 1;
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
		if (table_key(lc, tls_keys,
		        sizeof(tls_keys) / sizeof(tls_keys[0]), lineno, key,
		        value))
			return;
	} else if (strncmp(section, "target:", 7) == 0) {
		if (!valid_target_name(section + 7)) {
			inifile_error(lc->errs, lc->cfg->path, lineno, NULL,
			    "invalid target name [%s] (letters, digits, "
			    "_ - . @)",
			    section);
			lc->nerr++;
			return;
		}
		t = target_for(lc, section + 7, lineno);
		if (t == NULL) {
			inifile_error(lc->errs, lc->cfg->path, lineno, NULL,
			    "more than %d targets", RFTP_TARGETS_MAX);
			lc->nerr++;
			return;
		}
		target_key(lc, t, lineno, key, value);
		return;
	} else {
		inifile_error(lc->errs, lc->cfg->path, lineno, key,
		    "unknown section [%s] (expected [server], [tls], [mirror] "
		    "or [target:NAME])",
		    section);
		lc->nerr++;
		return;
	}
	inifile_error(lc->errs, lc->cfg->path, lineno, key,
	    "unknown key in [%s]", section);
	lc->nerr++;
}

const struct target_config *
config_target(const struct config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->mirror.ntargets; i++)
		if (strcmp(cfg->mirror.targets[i].name, name) == 0)
			return &cfg->mirror.targets[i];
	return NULL;
}

/*
 * The sftp rules that span keys (they may come in any order): sftp-only
 * keys on sftp targets; an sftp target checks its host key one way, or
 * says host_key_verify = off. Returns the number of problems reported.
 */
static int
check_target_ssh(
    const struct config *cfg, const struct target_config *t, struct buf *errs)
{
	int has_kh = t->known_hosts[0] != '\0';
	int has_fp = t->host_key_sha256[0] != '\0';
	int line = t->host_key_line ? t->host_key_line : t->line;

	if (strncmp(t->url, "sftp://", 7) != 0) {
		if (t->ssh_line == 0)
			return 0;
		inifile_error(errs, cfg->path, t->ssh_line, t->ssh_key,
		    "only for sftp:// targets ([target:%s] is %.*s)", t->name,
		    (int)strcspn(t->url, ":"), t->url);
		return 1;
	}
	if (has_kh && has_fp) {
		/* libcurl checks only the fingerprint when both are set. */
		inifile_error(errs, cfg->path, line, "host_key_sha256",
		    "set known_hosts or host_key_sha256, not both");
		return 1;
	}
	if (!t->host_key_verify && (has_kh || has_fp)) {
		inifile_error(errs, cfg->path, line, "host_key_verify",
		    "off, but %s is set: remove one of them",
		    has_kh ? "known_hosts" : "host_key_sha256");
		return 1;
	}
	if (t->host_key_verify && !has_kh && !has_fp) {
		inifile_error(errs, cfg->path, t->line, "known_hosts",
		    "[target:%s] is sftp:// but checks no host key: set "
		    "known_hosts = FILE or host_key_sha256 = BASE64 (or "
		    "host_key_verify = off, which lets a man in the middle "
		    "read the password and the files)",
		    t->name);
		return 1;
	}
	if (t->private_key[0] == '\0' &&
	    (t->public_key[0] != '\0' || t->passphrase[0] != '\0')) {
		inifile_error(errs, cfg->path, t->key_extra_line,
		    t->public_key[0] != '\0' ? "public_key" : "passphrase_file",
		    "needs private_key in [target:%s]", t->name);
		return 1;
	}
	return 0;
}

int
config_load(const char *path, struct config *cfg, struct buf *errs)
{
	struct load_ctx lc = { cfg, errs, 0, 0, 0, 0, 0 };
	char *slash;
	int rc;

	config_defaults(cfg);
	if (realpath(path, cfg->path) == NULL) {
		buf_printf(errs, "%s: cannot open config file\n", path);
		return -1;
	}
	snprintf(cfg->dir, sizeof(cfg->dir), "%s", cfg->path);
	slash = strrchr(cfg->dir, '/');
	if (slash != NULL && slash != cfg->dir)
		*slash = '\0';
	config_resolve_path(
	    cfg->dir, "users.ini", cfg->users_file, sizeof(cfg->users_file));
	rc = inifile_parse(cfg->path, on_key, &lc, errs);
	if (rc != 0)
		lc.nerr++;
	for (unsigned i = 0; i < cfg->mirror.ntargets; i++) {
		const struct target_config *t = &cfg->mirror.targets[i];

		if (t->url[0] == '\0') {
			inifile_error(errs, cfg->path, t->line, NULL,
			    "target [target:%s] has no url", t->name);
			lc.nerr++;
		} else {
			lc.nerr += check_target_ssh(cfg, t, errs);
		}
	}
	if (cfg->mirror.retry_max < cfg->mirror.retry_initial) {
		inifile_error(errs, cfg->path, lc.retry_line, "retry_max",
		    "below retry_initial (%llu)",
		    (unsigned long long)cfg->mirror.retry_initial);
		lc.nerr++;
	}
	if (cfg->tls.cert[0] == '\0' &&
	    (cfg->tls.require_login_tls || cfg->tls.require_data_tls ||
	        cfg->tls.nimplicit > 0 || cfg->tls.key[0] != '\0')) {
		inifile_error(errs, cfg->path, lc.tls_line, "cert",
		    "[tls] requires TLS or sets key/implicit_listen but has "
		    "no cert");
		lc.nerr++;
	}
	if (!lc.saw_queue)
		config_resolve_path(cfg->dir, "relayftpd-queue.db",
		    cfg->mirror.queue, sizeof(cfg->mirror.queue));
	return lc.nerr == 0 ? 0 : -1;
}
