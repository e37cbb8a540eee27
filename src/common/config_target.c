/*
 * config_target.c - the [target:NAME] sections of relayftpd.ini.
 *
 * Owns: target names, the table of target keys (the same idea as the
 * [server] table in config.c, with the secrets and files the keys name),
 * and the rules that span a target's keys: a url, and the sftp host key
 * and key pair rules. It must not open connections or know the mirror:
 * it only fills struct target_config.
 */
#include "common/config_target.h"

#include "common/inifile.h"
#include "common/numparse.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum tkey_type {
	TK_URL,
	TK_TEXT,
	TK_SECRET_FILE, /* the first line of a file */
	TK_CA_FILE,     /* readable, or "" for the system's store */
	TK_READABLE,    /* a readable file, required */
	TK_VERIFY,
	TK_LAYOUT,
	TK_BOOL,
	TK_FINGERPRINT,
	TK_HOOK_MODE,
	TK_SECONDS,
};

/* What a key also records, for the messages of config_targets_check. */
enum {
	TK_SSH = 1,       /* sftp:// only: ssh_line, ssh_key */
	TK_HOST_KEY = 2,  /* host_key_line */
	TK_KEY_EXTRA = 4, /* key_extra_line */
	TK_NONEMPTY = 8,  /* "" is refused with why */
	TK_HOOK = 16,     /* http(s):// only: hook_line, hook_key */
	TK_TREE = 32,     /* not for http(s)://: tree_line, tree_key */
};

struct tkey_def {
	const char *name;
	enum tkey_type type;
	size_t offset, size;
	unsigned flags;
	const char *why; /* the message when the value is refused */
};

#define TK(n, t, f, fl, w)                                        \
	{                                                         \
		n, t, offsetof(struct target_config, f),          \
		    sizeof(((struct target_config *)0)->f), fl, w \
	}

static const char on_off[] = "expected on or off";

/* In the order the "unknown key" message lists them. */
static const struct tkey_def target_keys[] = {
	TK("url", TK_URL, url, 0, "URL too long"),
	TK("user", TK_TEXT, user, 0, "too long"),
	TK("password", TK_TEXT, password, 0, "too long"),
	TK("password_file", TK_SECRET_FILE, password, 0,
	    "cannot read the password file, or its first line is longer "
	    "than 255 bytes"),
	TK("verify", TK_VERIFY, verify, TK_TREE, "expected size, hash or none"),
	TK("layout", TK_LAYOUT, flat, 0, "expected user or flat"),
	TK("include", TK_TEXT, include, 0, "too long"),
	TK("exclude", TK_TEXT, exclude, 0, "too long"),
	TK("propagate_deletes", TK_BOOL, propagate_deletes, 0, on_off),
	TK("propagate_renames", TK_BOOL, propagate_renames, 0, on_off),
	TK("tls_verify", TK_BOOL, tls_verify, 0, on_off),
	TK("ca_file", TK_CA_FILE, ca_file, 0, "cannot read the CA file"),
	TK("explicit_tls", TK_BOOL, explicit_tls, TK_TREE, on_off),
	TK("known_hosts", TK_READABLE, known_hosts, TK_SSH | TK_HOST_KEY, NULL),
	TK("host_key_sha256", TK_FINGERPRINT, host_key_sha256,
	    TK_SSH | TK_HOST_KEY,
	    "expected the base64 SHA256 fingerprint of the host key, as "
	    "'ssh-keygen -lf KEY.pub' prints it (43 characters, 'SHA256:' "
	    "optional)"),
	TK("host_key_verify", TK_BOOL, host_key_verify, TK_SSH | TK_HOST_KEY,
	    on_off),
	TK("private_key", TK_READABLE, private_key, TK_SSH, NULL),
	TK("public_key", TK_READABLE, public_key, TK_SSH | TK_KEY_EXTRA, NULL),
	TK("passphrase_file", TK_SECRET_FILE, passphrase,
	    TK_SSH | TK_KEY_EXTRA | TK_NONEMPTY,
	    "cannot read the passphrase file, or its first line is longer "
	    "than 255 bytes"),
	TK("mode", TK_HOOK_MODE, hook_put, TK_HOOK, "expected notify or put"),
	TK("secret_file", TK_SECRET_FILE, hook_secret, TK_HOOK | TK_NONEMPTY,
	    "cannot read the secret file, or its first line is empty or "
	    "longer than 255 bytes"),
	TK("timeout", TK_SECONDS, timeout, TK_HOOK,
	    "expected seconds from 1 to 86400"),
};

#define NTARGET_KEYS (sizeof(target_keys) / sizeof(target_keys[0]))

static int
valid_target_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > RFTP_NAME_MAX || strcmp(s, "none") == 0)
		return 0;
	return strspn(s, CONFIG_NAME_CHARS "@") == n;
}

static struct target_config *
target_for(struct config *cfg, const char *name, int lineno)
{
	struct mirror_config *m = &cfg->mirror;
	struct target_config *t;

	for (unsigned i = 0; i < m->ntargets; i++)
		if (strcmp(m->targets[i].name, name) == 0)
			return &m->targets[i];
	if (m->ntargets >= RFTP_TARGETS_MAX)
		return NULL;
	t = &m->targets[m->ntargets++];
	memset(t, 0, sizeof(*t));
	/* valid_target_name bounds the name by RFTP_NAME_MAX. */
	fmt_fixed(t->name, sizeof(t->name), "%s", name);
	t->verify = VERIFY_SIZE;
	t->tls_verify = 1;
	t->host_key_verify = 1;
	t->timeout = RFTP_DEFAULT_HOOK_TIMEOUT;
	t->line = lineno;
	return t;
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
readable_path(
    const struct config *cfg, const char *value, char *out, size_t outlen)
{
	if (value[0] == '\0')
		return "expected a file";
	if (config_resolve_path(cfg->dir, value, out, outlen) < 0)
		return "path too long";
	if (access(out, R_OK) != 0)
		return "cannot read the file";
	return NULL;
}

/* Sets one key from the table; returns why it is wrong, or NULL. */
static const char *
set_target_key(const struct config *cfg, struct target_config *t,
    const struct tkey_def *k, int lineno, const char *value)
{
	char *field = (char *)t + k->offset;
	char path[PATH_MAX];
	int b;

	if ((k->flags & TK_SSH) && t->ssh_line == 0) {
		t->ssh_line = lineno;
		t->ssh_key = k->name;
	}
	if ((k->flags & TK_HOOK) && t->hook_line == 0) {
		t->hook_line = lineno;
		t->hook_key = k->name;
	}
	if ((k->flags & TK_TREE) && t->tree_line == 0) {
		t->tree_line = lineno;
		t->tree_key = k->name;
	}
	if (k->flags & TK_HOST_KEY)
		t->host_key_line = lineno;
	if (k->flags & TK_KEY_EXTRA)
		t->key_extra_line = lineno;
	if ((k->flags & TK_NONEMPTY) && value[0] == '\0')
		return k->why;
	switch (k->type) {
	case TK_URL:
		if (strncmp(value, "ftp://", 6) != 0 &&
		    strncmp(value, "ftps://", 7) != 0 &&
		    strncmp(value, "sftp://", 7) != 0 &&
		    strncmp(value, "http://", 7) != 0 &&
		    strncmp(value, "https://", 8) != 0)
			return "expected an ftp://, ftps://, sftp://, http:// or "
			       "https:// URL";
		/* fall through */
	case TK_TEXT:
		/* Measured first: a refused value keeps the earlier one. */
		if (strlen(value) >= k->size)
			return k->why;
		memcpy(field, value, strlen(value) + 1);
		return NULL;
	case TK_SECRET_FILE:
		if (config_resolve_path(cfg->dir, value, path, sizeof(path)) <
		        0 ||
		    read_secret(path, field, k->size) < 0)
			return k->why;
		/* An empty key would sign with nothing a receiver can trust. */
		if ((k->flags & TK_HOOK) && field[0] == '\0')
			return k->why;
		return NULL;
	case TK_CA_FILE:
		/* A self-signed or private-CA target stays verified; an
		 * empty value is the system's store, as with no key. */
		if (value[0] == '\0') {
			field[0] = '\0';
			return NULL;
		}
		if (config_resolve_path(cfg->dir, value, field, k->size) < 0)
			return "path too long";
		return access(field, R_OK) != 0 ? k->why : NULL;
	case TK_READABLE:
		return readable_path(cfg, value, field, k->size);
	case TK_VERIFY:
		if (strcmp(value, "size") == 0)
			t->verify = VERIFY_SIZE;
		else if (strcmp(value, "hash") == 0)
			t->verify = VERIFY_HASH;
		else if (strcmp(value, "none") == 0)
			t->verify = VERIFY_NONE;
		else
			return k->why;
		return NULL;
	case TK_LAYOUT:
		if (strcmp(value, "user") == 0)
			t->flat = 0;
		else if (strcmp(value, "flat") == 0)
			t->flat = 1;
		else
			return k->why;
		return NULL;
	case TK_BOOL:
		if (parse_bool(value, &b) < 0)
			return k->why;
		*(int *)(void *)field = b;
		return NULL;
	case TK_FINGERPRINT:
		return parse_sha256_fingerprint(value, field, k->size) < 0 ?
		    k->why :
		    NULL;
	case TK_HOOK_MODE:
		if (strcmp(value, "notify") == 0)
			t->hook_put = 0;
		else if (strcmp(value, "put") == 0)
			t->hook_put = 1;
		else
			return k->why;
		return NULL;
	case TK_SECONDS: {
		uint64_t v;

		if (parse_u64(value, 86400, &v) < 0 || v == 0)
			return k->why;
		t->timeout = v;
		return NULL;
	}
	}
	return "invalid value";
}

/* "unknown key (expected url, user, ...)", listing the table. */
static void
unknown_key(
    const struct config *cfg, struct buf *errs, int lineno, const char *key)
{
	struct buf names;

	buf_init(&names, 1024);
	for (size_t i = 0; i < NTARGET_KEYS; i++)
		buf_printf(&names, "%s%s", i ? ", " : "", target_keys[i].name);
	inifile_error(errs, cfg->path, lineno, key, "unknown key (expected %s)",
	    buf_str(&names));
	buf_free(&names);
}

int
config_target_line(struct config *cfg, struct buf *errs, int lineno,
    const char *name, const char *key, const char *value)
{
	struct target_config *t;
	const char *why;

	if (key == NULL) {
		/* A header makes the target, so one without keys is said
		 * to lack a url; a bad name is reported at its keys. */
		if (valid_target_name(name))
			target_for(cfg, name, lineno);
		return 0;
	}
	if (!valid_target_name(name)) {
		inifile_error(errs, cfg->path, lineno, NULL,
		    "invalid target name [target:%s] (letters, digits, "
		    "_ - . @)",
		    name);
		return 1;
	}
	t = target_for(cfg, name, lineno);
	if (t == NULL) {
		inifile_error(errs, cfg->path, lineno, NULL,
		    "more than %d targets", RFTP_TARGETS_MAX);
		return 1;
	}
	for (size_t i = 0; i < NTARGET_KEYS; i++) {
		if (strcmp(target_keys[i].name, key) != 0)
			continue;
		why = set_target_key(cfg, t, &target_keys[i], lineno, value);
		if (why == NULL)
			return 0;
		inifile_error(errs, cfg->path, lineno, key, "%s", why);
		return 1;
	}
	unknown_key(cfg, errs, lineno, key);
	return 1;
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

static int
is_hook_url(const char *url)
{
	return strncmp(url, "http://", 7) == 0 ||
	    strncmp(url, "https://", 8) == 0;
}

/* Webhook keys on webhook targets only, and no key a webhook cannot honour
 * on one (it has no copy to verify and no FTP TLS to negotiate). */
static int
check_target_hook(
    const struct config *cfg, const struct target_config *t, struct buf *errs)
{
	int hook = is_hook_url(t->url);

	if (!hook && t->hook_line != 0) {
		inifile_error(errs, cfg->path, t->hook_line, t->hook_key,
		    "only for http:// and https:// targets ([target:%s] is "
		    "%.*s)",
		    t->name, (int)strcspn(t->url, ":"), t->url);
		return 1;
	}
	if (hook && t->tree_line != 0) {
		inifile_error(errs, cfg->path, t->tree_line, t->tree_key,
		    "not for http:// and https:// targets ([target:%s] is a "
		    "webhook)",
		    t->name);
		return 1;
	}
	return 0;
}

int
config_targets_check(const struct config *cfg, struct buf *errs)
{
	int nerr = 0;

	for (unsigned i = 0; i < cfg->mirror.ntargets; i++) {
		const struct target_config *t = &cfg->mirror.targets[i];

		if (t->url[0] == '\0') {
			inifile_error(errs, cfg->path, t->line, NULL,
			    "target [target:%s] has no url", t->name);
			nerr++;
		} else {
			nerr += check_target_ssh(cfg, t, errs);
			nerr += check_target_hook(cfg, t, errs);
		}
	}
	return nerr;
}
