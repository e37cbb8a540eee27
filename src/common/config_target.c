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

#include "common/execargs.h"
#include "common/inifile.h"
#include "common/numparse.h"

#include <sys/stat.h>

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
	TK_SECONDS,   /* 1..RFTP_TARGET_TIMEOUT_MAX */
	TK_KEEPALIVE, /* 0..RFTP_TARGET_KEEPALIVE_MAX */
	TK_RATE,      /* bytes/s, 0..RFTP_TARGET_MIN_RATE_MAX */
	TK_ARGS,      /* an exec: argument list (execargs.h) */
	TK_HOOK_MODE, /* notify or put */
	TK_SIZE,      /* "64M": parse_size */
	TK_ENDPOINT,  /* http:// or https://, no path */
	TK_REGION,    /* a-z A-Z 0-9 - _: it is part of what is signed */
};

/* What a key also records, for the messages of config_targets_check. */
enum {
	TK_SSH = 1,       /* sftp:// only: ssh_line, ssh_key */
	TK_HOST_KEY = 2,  /* host_key_line */
	TK_KEY_EXTRA = 4, /* key_extra_line */
	TK_NONEMPTY = 8,  /* "" is refused with why */
	TK_FILLED = 16,   /* TK_SECRET_FILE: an empty first line is refused */
	/* The kinds of target that take the key (every key names its own;
	 * kind_of() gives a URL's): a key of another kind is an error that
	 * names its line (config_targets_check). */
	K_FTP = 32,   /* ftp://, ftps:// */
	K_SFTP = 64,  /* sftp:// */
	K_EXEC = 128, /* exec:/ABSOLUTE/PATH: a local command */
	K_HOOK = 256, /* http://, https://: a webhook */
	K_S3 = 512,   /* s3://BUCKET/PREFIX: object storage */
	K_TREE = K_FTP | K_SFTP,
	K_ALL = K_TREE | K_EXEC | K_HOOK | K_S3,
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
	TK("url", TK_URL, url, K_ALL, "URL too long"),
	TK("user", TK_TEXT, user, K_TREE | K_HOOK, "too long"),
	TK("password", TK_TEXT, password, K_TREE | K_HOOK, "too long"),
	TK("password_file", TK_SECRET_FILE, password, K_TREE | K_HOOK,
	    "cannot read the password file, or its first line is longer "
	    "than 255 bytes"),
	TK("verify", TK_VERIFY, verify, K_TREE | K_S3,
	    "expected size, hash or none"),
	TK("layout", TK_LAYOUT, flat, K_TREE | K_HOOK | K_S3,
	    "expected user or flat"),
	TK("include", TK_TEXT, include, K_ALL, "too long"),
	TK("exclude", TK_TEXT, exclude, K_ALL, "too long"),
	TK("propagate_deletes", TK_BOOL, propagate_deletes, K_ALL, on_off),
	TK("propagate_renames", TK_BOOL, propagate_renames, K_ALL, on_off),
	TK("tls_verify", TK_BOOL, tls_verify, K_TREE | K_HOOK | K_S3, on_off),
	TK("ca_file", TK_CA_FILE, ca_file, K_TREE | K_HOOK | K_S3,
	    "cannot read the CA file"),
	TK("explicit_tls", TK_BOOL, explicit_tls, K_TREE, on_off),
	TK("known_hosts", TK_READABLE, known_hosts,
	    K_SFTP | TK_SSH | TK_HOST_KEY, NULL),
	TK("host_key_sha256", TK_FINGERPRINT, host_key_sha256,
	    K_SFTP | TK_SSH | TK_HOST_KEY,
	    "expected the base64 SHA256 fingerprint of the host key, as "
	    "'ssh-keygen -lf KEY.pub' prints it (43 characters, 'SHA256:' "
	    "optional)"),
	TK("host_key_verify", TK_BOOL, host_key_verify,
	    K_SFTP | TK_SSH | TK_HOST_KEY, on_off),
	TK("private_key", TK_READABLE, private_key, K_SFTP | TK_SSH, NULL),
	TK("public_key", TK_READABLE, public_key,
	    K_SFTP | TK_SSH | TK_KEY_EXTRA, NULL),
	TK("passphrase_file", TK_SECRET_FILE, passphrase,
	    K_SFTP | TK_SSH | TK_KEY_EXTRA | TK_NONEMPTY,
	    "cannot read the passphrase file, or its first line is longer "
	    "than 255 bytes"),
	TK("args", TK_ARGS, args, K_EXEC, "too long"),
	TK("mode", TK_HOOK_MODE, hook_put, K_HOOK, "expected notify or put"),
	TK("secret_file", TK_SECRET_FILE, hook_secret,
	    K_HOOK | TK_NONEMPTY | TK_FILLED,
	    "cannot read the secret file, or its first line is empty or "
	    "longer than 255 bytes"),
	TK("timeout", TK_SECONDS, timeout, K_ALL,
	    "expected seconds, 1 to 86400"),
	TK("keepalive", TK_KEEPALIVE, keepalive, K_TREE | K_HOOK | K_S3,
	    "expected seconds, 0 (off) to 3600"),
	TK("min_rate", TK_RATE, min_rate, K_TREE | K_HOOK | K_S3,
	    "expected bytes per second, 0 (only a stall fails) to "
	    "1073741824"),
	TK("endpoint", TK_ENDPOINT, endpoint, K_S3,
	    "expected http://HOST[:PORT] or https://HOST[:PORT], no path"),
	TK("region", TK_REGION, region, K_S3 | TK_NONEMPTY,
	    "expected a region name such as us-east-1 (letters, digits, -)"),
	TK("access_key", TK_TEXT, access_key, K_S3 | TK_NONEMPTY,
	    "expected the access key id (at most 127 bytes)"),
	TK("secret_key", TK_TEXT, secret_key, K_S3 | TK_NONEMPTY,
	    "expected the secret key (at most 255 bytes)"),
	TK("secret_key_file", TK_SECRET_FILE, secret_key, K_S3 | TK_NONEMPTY,
	    "cannot read the secret key file, or its first line is longer "
	    "than 255 bytes"),
	TK("path_style", TK_BOOL, path_style, K_S3, on_off),
	TK("multipart_threshold", TK_SIZE, multipart_threshold, K_S3,
	    "expected a size such as 64M (5M to 5G)"),
	TK("part_size", TK_SIZE, part_size, K_S3,
	    "expected a size such as 16M (5M to 5G)"),
};

#define NTARGET_KEYS (sizeof(target_keys) / sizeof(target_keys[0]))

/* The kinds of target, indexed as target_config's refused_line: the
 * schemes of each and its name in messages. */
static const struct {
	unsigned bit;
	const char *scheme[2];
	const char *name;
} kinds[] = {
	{ K_FTP, { "ftp://", "ftps://" }, "ftp:// and ftps://" },
	{ K_SFTP, { "sftp://", NULL }, "sftp://" },
	{ K_EXEC, { "exec:", NULL }, "exec:" },
	{ K_HOOK, { "http://", "https://" }, "http:// and https://" },
	{ K_S3, { "s3://", NULL }, "s3://" },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))
_Static_assert(NKINDS == RFTP_TARGET_KINDS, "kinds[] and RFTP_TARGET_KINDS");

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
	t->timeout = RFTP_DEFAULT_TARGET_TIMEOUT;
	t->keepalive = RFTP_DEFAULT_TARGET_KEEPALIVE;
	t->min_rate = RFTP_DEFAULT_TARGET_MIN_RATE;
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

int
config_escapes_control(const char *s)
{
	for (const char *p = strchr(s, '%'); p != NULL; p = strchr(p + 1, '%'))
		if ((p[1] == '0' || p[1] == '1') && p[2] != '\0' &&
		    strchr("0123456789abcdefABCDEF", p[2]) != NULL)
			return 1;
	return 0;
}

/* 1 if url's path holds an escaped control byte. The path only: the
 * user, password and an IPv6 zone ("%12") are the login's and the
 * address's, which fail where they are used (a login the target
 * refuses), never as a file's name. */
static int
escaped_control(const char *url)
{
	const char *path = strstr(url, "://");

	path = path != NULL ? strchr(path + 3, '/') : NULL;
	return path != NULL && config_escapes_control(path);
}

/*
 * The host and port of an ftp, ftps, sftp, http or https url: NULL if
 * they are well formed (a host, a bracketed IPv6 address closed, a port
 * of 1 to 65535 if any), else why not. libcurl would refuse the url at
 * each push, for ever ("URL using bad/illegal format"): at start the
 * admin hears of it.
 */
static const char *
url_authority_error(const char *url)
{
	const char *a = strstr(url, "://"), *end, *at, *host, *colon = NULL;
	unsigned long port = 0;

	if (a == NULL || strncmp(url, "s3://", 5) == 0)
		return NULL;
	a += 3;
	end = a + strcspn(a, "/?#");
	/* The userinfo ends at the last '@' before the path. */
	host = a;
	for (at = a; at < end; at++)
		if (*at == '@')
			host = at + 1;
	if (host == end)
		return "the URL has no host";
	if (*host == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));

		if (close == NULL)
			return "the URL's IPv6 address has no closing ']'";
		if (close + 1 < end) {
			if (close[1] != ':')
				return "the URL has something after its IPv6 "
				       "address";
			colon = close + 1;
		}
	} else {
		for (const char *p = host; p < end; p++)
			if (*p == ':')
				colon = p;
		if (colon == host)
			return "the URL has no host";
	}
	if (colon == NULL || colon + 1 == end)
		return NULL;
	for (const char *p = colon + 1; p < end; p++) {
		if (*p < '0' || *p > '9')
			return "the URL's port is not a number from 1 to 65535";
		port = port * 10 + (unsigned long)(*p - '0');
		if (port > 65535)
			break;
	}
	if (port == 0 || port > 65535)
		return "the URL's port is not a number from 1 to 65535";
	return NULL;
}

/* Sets one key from the table; returns why it is wrong, or NULL. */
static const char *
set_target_key(const struct config *cfg, struct target_config *t,
    const struct tkey_def *k, int lineno, const char *value)
{
	char *field = (char *)t + k->offset;
	char path[PATH_MAX];
	const char *bad;
	int b;

	if ((k->flags & TK_SSH) && t->ssh_line == 0) {
		t->ssh_line = lineno;
		t->ssh_key = k->name;
	}
	/* The first key each kind refuses: which kind this target is, the
	 * url (perhaps on a later line) decides. sftp-only keys have their
	 * own message (ssh_line). */
	for (unsigned i = 0; i < NKINDS; i++) {
		if ((k->flags & kinds[i].bit) || (k->flags & TK_SSH) ||
		    t->refused_line[i] != 0)
			continue;
		t->refused_line[i] = lineno;
		t->refused_key[i] = k->name;
	}
	if (k->flags & TK_HOST_KEY)
		t->host_key_line = lineno;
	if (k->flags & TK_KEY_EXTRA)
		t->key_extra_line = lineno;
	if ((k->flags & TK_NONEMPTY) && value[0] == '\0')
		return k->why;
	switch (k->type) {
	case TK_URL:
		t->url_line = lineno;
		if (strncmp(value, "ftp://", 6) != 0 &&
		    strncmp(value, "ftps://", 7) != 0 &&
		    strncmp(value, "sftp://", 7) != 0 &&
		    strncmp(value, "exec:", 5) != 0 &&
		    strncmp(value, "http://", 7) != 0 &&
		    strncmp(value, "https://", 8) != 0 &&
		    strncmp(value, "s3://", 5) != 0)
			return "expected an ftp://, ftps://, sftp://, s3://, "
			       "http:// or https:// URL, or exec:/ABSOLUTE/PATH";
		/* libcurl sends no FTP path with a control byte: in the
		 * base folder, every push would be refused (and dropped, as
		 * a name no retry can send). Escaped (%09) as well as raw:
		 * libcurl decodes an FTP URL's path before it refuses it. */
		for (const unsigned char *c = (const unsigned char *)value;
		     *c != '\0'; c++)
			if (*c < 0x20 || *c == 0x7f)
				return "the URL holds a control character";
		if ((bad = url_authority_error(value)) != NULL)
			return bad;
		if (strncmp(value, "ftp", 3) == 0 ||
		    strncmp(value, "sftp://", 7) == 0) {
			/* An FTP or SFTP URL has no query or fragment: the
			 * mirror joins the file's path to the url's, and the
			 * files went to a folder "base?x=1" while `mirror
			 * status` named "/base" (found from outside). */
			if (value[strcspn(value, "?#")] != '\0')
				return "the URL holds '?' or '#', which an "
				       "ftp, ftps or sftp URL cannot hold (it "
				       "would start a query or a fragment, and "
				       "the files would go to a folder named "
				       "with it): write a folder name's '?' as "
				       "%3F and '#' as %23";
			if (escaped_control(value))
				return "the URL holds an escaped control "
				       "character (%00 to %1F)";
		}
		/* A checked URL is stored as text is. (The attribute, not
		 * a comment: clang's -Wimplicit-fallthrough reads no
		 * comments.) */
		__attribute__((fallthrough));
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
		if ((k->flags & TK_FILLED) && field[0] == '\0')
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
	case TK_ARGS: {
		const char *why = NULL;

		if (strlen(value) >= k->size)
			return k->why;
		if (execargs_check(value, &why) < 0)
			return why;
		memcpy(field, value, strlen(value) + 1);
		return NULL;
	}
	case TK_SECONDS:
	case TK_KEEPALIVE:
		/* keepalive 0 is off; a timeout of 0 would fail every
		 * attempt. */
		if (parse_u64(value,
		        k->type == TK_SECONDS ? RFTP_TARGET_TIMEOUT_MAX :
		                                RFTP_TARGET_KEEPALIVE_MAX,
		        (uint64_t *)(void *)field) < 0 ||
		    (k->type == TK_SECONDS && *(uint64_t *)(void *)field == 0))
			return k->why;
		return NULL;
	case TK_RATE:
		if (parse_u64(value, RFTP_TARGET_MIN_RATE_MAX,
		        (uint64_t *)(void *)field) < 0)
			return k->why;
		return NULL;
	case TK_HOOK_MODE:
		if (strcmp(value, "notify") == 0)
			t->hook_put = 0;
		else if (strcmp(value, "put") == 0)
			t->hook_put = 1;
		else
			return k->why;
		return NULL;
	case TK_SIZE: {
		uint64_t v;

		/* S3's smallest part (but the last) is 5 MiB; its largest
		 * part, and its largest single PUT (so the threshold above
		 * which multipart is used), 5 GiB. */
		if (parse_size(value, &v) < 0 || v < (5ull << 20) ||
		    v > (5ull << 30))
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

/* The kind a URL names (url was checked as it was read). */
static unsigned
kind_of(const char *url)
{
	for (unsigned i = 0; i < NKINDS; i++)
		for (unsigned s = 0; s < 2 && kinds[i].scheme[s] != NULL; s++)
			if (strncmp(url, kinds[i].scheme[s],
			        strlen(kinds[i].scheme[s])) == 0)
				return i;
	return 0;
}

/*
 * A key of another kind of target, named at its line: "only for exec:
 * targets" when one kind takes it, else "not for http:// and https://
 * targets" with the keys this kind takes (a webhook has no copy to
 * verify, a command no login).
 */
static int
check_target_kind(
    const struct config *cfg, const struct target_config *t, struct buf *errs)
{
	unsigned kind = kind_of(t->url), mask = 0;
	const char *key = t->refused_key[kind];
	struct buf takes;

	if (t->refused_line[kind] == 0)
		return 0;
	for (size_t i = 0; i < NTARGET_KEYS; i++)
		if (strcmp(target_keys[i].name, key) == 0)
			mask = target_keys[i].flags & K_ALL;
	for (unsigned i = 0; i < NKINDS; i++) {
		if (mask != kinds[i].bit)
			continue;
		inifile_error(errs, cfg->path, t->refused_line[kind], key,
		    "only for %s targets ([target:%s] is %.*s)", kinds[i].name,
		    t->name, (int)strcspn(t->url, ":"), t->url);
		return 1;
	}
	buf_init(&takes, 1024);
	for (size_t i = 0; i < NTARGET_KEYS; i++)
		if (target_keys[i].flags & kinds[kind].bit)
			buf_printf(&takes, "%s%s",
			    buf_str(&takes)[0] ? ", " : "",
			    target_keys[i].name);
	inifile_error(errs, cfg->path, t->refused_line[kind], key,
	    "not for %s targets ([target:%s] takes %s)", kinds[kind].name,
	    t->name, buf_str(&takes));
	buf_free(&takes);
	return 1;
}

/* True for url = exec:... (transport_exec.c). */
static int
is_exec(const struct target_config *t)
{
	return strncmp(t->url, "exec:", 5) == 0;
}

/*
 * An exec: target names its program by an absolute path (args was checked
 * as it was read, execargs.h; that the program is there is
 * config_targets_check_files's). Returns the number of problems reported.
 */
static int
check_target_exec(
    const struct config *cfg, const struct target_config *t, struct buf *errs)
{
	const char *prog = t->url + 5;

	if (!is_exec(t))
		return 0;
	if (prog[0] != '/') {
		inifile_error(errs, cfg->path, t->url_line, "url",
		    "[target:%s]: exec: needs an absolute path "
		    "(exec:/usr/local/bin/on-upload), not \"%s\"",
		    t->name, prog);
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

/* What an s3:// target needs: a bucket name S3 allows, and credentials.
 * Returns the number of problems reported. */
static int
check_target_s3(
    const struct config *cfg, const struct target_config *t, struct buf *errs)
{
	const char *bucket = t->url + 5;

	if (strncmp(t->url, "s3://", 5) != 0)
		return 0;
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
config_targets_check_files(
    const struct config *cfg, struct buf *errs, int as_warning)
{
	int nerr = 0;

	for (unsigned i = 0; i < cfg->mirror.ntargets; i++) {
		const struct target_config *t = &cfg->mirror.targets[i];
		const char *prog = t->url + 5;
		struct stat st;

		if (!is_exec(t) || prog[0] != '/')
			continue;
		if (stat(prog, &st) != 0 || !S_ISREG(st.st_mode) ||
		    access(prog, X_OK) != 0) {
			inifile_error(errs, cfg->path, t->url_line, "url",
			    "%s[target:%s]: %s is not an executable file%s",
			    as_warning ? "warning: " : "", t->name, prog,
			    as_warning ? ": its pushes fail, and are "
			                 "retried, until it is" :
			                 "");
			nerr++;
		}
	}
	return nerr;
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
			nerr += check_target_exec(cfg, t, errs);
			nerr += check_target_s3(cfg, t, errs);
		}
	}
	return nerr;
}
