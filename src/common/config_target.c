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
	TK_SIZE,     /* "64M": parse_size */
	TK_ENDPOINT, /* http:// or https://, no path */
	TK_REGION,   /* a-z A-Z 0-9 - _: it is part of what is signed */
};

/* What a key also records, for the messages of config_targets_check. */
enum {
	TK_SSH = 1,       /* sftp:// only: ssh_line, ssh_key */
	TK_HOST_KEY = 2,  /* host_key_line */
	TK_KEY_EXTRA = 4, /* key_extra_line */
	TK_NONEMPTY = 8,  /* "" is refused with why */
	TK_S3 = 16,       /* s3:// only: s3_line, s3_key */
	TK_FTP = 32,      /* ftp://, ftps://, sftp:// only: ftp_line, ftp_key */
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
	TK("user", TK_TEXT, user, TK_FTP, "too long"),
	TK("password", TK_TEXT, password, TK_FTP, "too long"),
	TK("password_file", TK_SECRET_FILE, password, TK_FTP,
	    "cannot read the password file, or its first line is longer "
	    "than 255 bytes"),
	TK("verify", TK_VERIFY, verify, 0, "expected size, hash or none"),
	TK("layout", TK_LAYOUT, flat, 0, "expected user or flat"),
	TK("include", TK_TEXT, include, 0, "too long"),
	TK("exclude", TK_TEXT, exclude, 0, "too long"),
	TK("propagate_deletes", TK_BOOL, propagate_deletes, 0, on_off),
	TK("propagate_renames", TK_BOOL, propagate_renames, 0, on_off),
	TK("tls_verify", TK_BOOL, tls_verify, 0, on_off),
	TK("ca_file", TK_CA_FILE, ca_file, 0, "cannot read the CA file"),
	TK("explicit_tls", TK_BOOL, explicit_tls, TK_FTP, on_off),
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
	TK("endpoint", TK_ENDPOINT, endpoint, TK_S3,
	    "expected http://HOST[:PORT] or https://HOST[:PORT], no path"),
	TK("region", TK_REGION, region, TK_S3 | TK_NONEMPTY,
	    "expected a region name such as us-east-1 (letters, digits, -)"),
	TK("access_key", TK_TEXT, access_key, TK_S3 | TK_NONEMPTY,
	    "expected the access key id (at most 127 bytes)"),
	TK("secret_key", TK_TEXT, secret_key, TK_S3 | TK_NONEMPTY,
	    "expected the secret key (at most 255 bytes)"),
	TK("secret_key_file", TK_SECRET_FILE, secret_key, TK_S3 | TK_NONEMPTY,
	    "cannot read the secret key file, or its first line is longer "
	    "than 255 bytes"),
	TK("path_style", TK_BOOL, path_style, TK_S3, on_off),
	TK("multipart_threshold", TK_SIZE, multipart_threshold, TK_S3,
	    "expected a size such as 64M (at least 5M)"),
	TK("part_size", TK_SIZE, part_size, TK_S3,
	    "expected a size such as 16M (5M to 5G)"),
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
	fmt_fixed(t->region, sizeof(t->region), "%s", "us-east-1");
	t->path_style = -1;
	t->multipart_threshold = 64ull << 20;
	t->part_size = 16ull << 20;
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
	if ((k->flags & TK_S3) && t->s3_line == 0) {
		t->s3_line = lineno;
		t->s3_key = k->name;
	}
	if ((k->flags & TK_FTP) && t->ftp_line == 0) {
		t->ftp_line = lineno;
		t->ftp_key = k->name;
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
		    strncmp(value, "s3://", 5) != 0)
			return "expected an ftp://, ftps://, sftp:// or s3:// "
			       "URL";
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
	case TK_SIZE: {
		uint64_t v;

		/* S3's smallest part (but the last) is 5 MiB; its largest
		 * 5 GiB. */
		if (parse_size(value, &v) < 0 || v < (5ull << 20) ||
		    (k->offset == offsetof(struct target_config, part_size) &&
		        v > (5ull << 30)))
			return k->why;
		*(uint64_t *)(void *)field = v;
		return NULL;
	}
	case TK_REGION:
		if (strlen(value) >= k->size ||
		    strspn(value,
		        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		        "0123456789-_") != strlen(value))
			return k->why;
		memcpy(field, value, strlen(value) + 1);
		return NULL;
	case TK_ENDPOINT: {
		size_t skip = strncmp(value, "https://", 8) == 0 ? 8 :
		    strncmp(value, "http://", 7) == 0            ? 7 :
		                                                   0;
		size_t n = strlen(value);

		if (skip == 0 || n == skip || n >= k->size ||
		    strcspn(value + skip, "/?#@") != n - skip)
			return k->why;
		memcpy(field, value, n + 1);
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

/* A bucket name as S3 allows it: 3 to 63 of a-z 0-9 . - */
static int
valid_bucket(const char *s, size_t n)
{
	return n >= 3 && n <= 63 &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-") >= n;
}

/*
 * The keys of one kind on a target of another kind, and what an s3://
 * target needs (bucket, credentials). Returns the number of problems.
 */
static int
check_target_kind(
    const struct config *cfg, const struct target_config *t, struct buf *errs)
{
	int s3 = strncmp(t->url, "s3://", 5) == 0;
	const char *bucket = t->url + 5;

	if (!s3) {
		if (t->s3_line == 0)
			return 0;
		inifile_error(errs, cfg->path, t->s3_line, t->s3_key,
		    "only for s3:// targets ([target:%s] is %.*s)", t->name,
		    (int)strcspn(t->url, ":"), t->url);
		return 1;
	}
	if (t->ftp_line != 0) {
		inifile_error(errs, cfg->path, t->ftp_line, t->ftp_key,
		    "not for s3:// targets ([target:%s]: use access_key and "
		    "secret_key)",
		    t->name);
		return 1;
	}
	if (!valid_bucket(bucket, strcspn(bucket, "/"))) {
		inifile_error(errs, cfg->path, t->line, "url",
		    "[target:%s]: expected s3://BUCKET[/PREFIX] with a bucket "
		    "name of 3 to 63 characters a-z 0-9 . -",
		    t->name);
		return 1;
	}
	if (t->access_key[0] == '\0' || t->secret_key[0] == '\0') {
		inifile_error(errs, cfg->path, t->line,
		    t->access_key[0] == '\0' ? "access_key" : "secret_key",
		    "[target:%s] is s3:// and needs access_key and secret_key "
		    "(or secret_key_file)",
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
			nerr += check_target_kind(cfg, t, errs);
			nerr += check_target_ssh(cfg, t, errs);
		}
	}
	return nerr;
}
