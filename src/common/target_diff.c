/*
 * target_diff.c - what differs between two loads of relayftpd.ini's
 * targets (target_diff.h).
 *
 * The daemon builds its targets' workers once, at start; SIGHUP re-reads
 * users.ini only. An admin who added a target or mended one's password
 * saw it listed by `mirror status` (which reads the file) while nothing
 * went there (found from outside). This names what the running daemon
 * does not apply, for the SIGHUP's log line and for `mirror status`.
 * Must not decide what to do about it: it compares.
 */
#include "common/target_diff.h"

#include "common/fnv.h"
#include "common/limits.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* One setting of a target: its key's name as the admin writes it, and
 * where it is in the struct (text, or an int or uint64_t). */
enum setting_kind {
	S_TEXT,
	S_INT,
	S_U64
};

struct setting {
	const char *key;
	enum setting_kind kind;
	size_t off;
	int secret;
};

#define ST(k, f, s)                                             \
	{                                                       \
		k, S_TEXT, offsetof(struct target_config, f), s \
	}
#define SI(k, f)                                               \
	{                                                      \
		k, S_INT, offsetof(struct target_config, f), 0 \
	}
#define SU(k, f)                                               \
	{                                                      \
		k, S_U64, offsetof(struct target_config, f), 0 \
	}

/* Every field config_target.c fills from a key; not the line numbers,
 * which move with any edit above the section. */
static const struct setting settings[] = {
	ST("url", url, 0),
	ST("user", user, 0),
	ST("password", password, 1),
	SI("verify", verify),
	SI("layout", flat),
	SI("tls_verify", tls_verify),
	ST("ca_file", ca_file, 0),
	SI("explicit_tls", explicit_tls),
	SI("propagate_deletes", propagate_deletes),
	SI("propagate_renames", propagate_renames),
	ST("include", include, 0),
	ST("exclude", exclude, 0),
	ST("known_hosts", known_hosts, 0),
	ST("host_key_sha256", host_key_sha256, 0),
	SI("host_key_verify", host_key_verify),
	ST("private_key", private_key, 0),
	ST("public_key", public_key, 0),
	ST("passphrase", passphrase, 1),
	ST("endpoint", endpoint, 0),
	ST("region", region, 0),
	ST("access_key", access_key, 0),
	ST("secret_key", secret_key, 1),
	SI("path_style", path_style),
	SU("multipart_threshold", multipart_threshold),
	SU("part_size", part_size),
	ST("args", args, 0),
	SU("timeout", timeout),
	SU("keepalive", keepalive),
	SU("min_rate", min_rate),
	SI("mode", hook_put),
	ST("secret_file", hook_secret, 1),
};

static int
setting_differs(const struct setting *s, const struct target_config *a,
    const struct target_config *b)
{
	const char *pa = (const char *)a + s->off;
	const char *pb = (const char *)b + s->off;

	switch (s->kind) {
	case S_TEXT:
		return strcmp(pa, pb) != 0;
	case S_INT:
		return *(const int *)(const void *)pa !=
		    *(const int *)(const void *)pb;
	case S_U64:
		return *(const uint64_t *)(const void *)pa !=
		    *(const uint64_t *)(const void *)pb;
	}
	return 1;
}

static const struct target_config *
find_target(const struct config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->mirror.ntargets; i++)
		if (strcmp(cfg->mirror.targets[i].name, name) == 0)
			return &cfg->mirror.targets[i];
	return NULL;
}

/* "NAME changed (k1, k2)" if a and b differ; 1 if a line was added, 0 if
 * they are the same, -1 if out is full. */
static int
diff_one(const struct target_config *a, const struct target_config *b,
    struct buf *out)
{
	int n = 0;

	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		if (!setting_differs(&settings[i], a, b))
			continue;
		if (n == 0 && buf_printf(out, "%s changed (", a->name) < 0)
			return -1;
		if (buf_printf(
		        out, "%s%s", n == 0 ? "" : ", ", settings[i].key) < 0)
			return -1;
		n++;
	}
	if (n == 0)
		return 0;
	return buf_adds(out, ")\n") < 0 ? -1 : 1;
}

int
target_diff(const struct config *was, const struct config *now, struct buf *out)
{
	int lines = 0, rc;

	for (unsigned i = 0; i < now->mirror.ntargets; i++) {
		const struct target_config *t = &now->mirror.targets[i];
		const struct target_config *old = find_target(was, t->name);

		if (old == NULL) {
			if (buf_printf(out, "%s added\n", t->name) < 0)
				return -1;
			lines++;
			continue;
		}
		rc = diff_one(old, t, out);
		if (rc < 0)
			return -1;
		lines += rc;
	}
	for (unsigned i = 0; i < was->mirror.ntargets; i++) {
		const char *name = was->mirror.targets[i].name;

		if (find_target(now, name) != NULL)
			continue;
		if (buf_printf(out, "%s removed\n", name) < 0)
			return -1;
		lines++;
	}
	return lines;
}

/*
 * h carried on over url without its secrets: the password of its
 * userinfo ("ftp://u:PW@host/") and its query and fragment, where a
 * webhook's URL carries its token (mirror/view.c shows the same cut).
 * The fingerprint is in the queue, which `mirror status` and anyone who
 * may read the queue read, and FNV of a password is reversed by trying
 * candidates (found by review). The authority ends at the first '/', '?'
 * or '#' after "://" and its userinfo at the last '@' in it, as libcurl
 * reads a URL.
 */
static uint64_t
hash_url_public(uint64_t h, const char *url)
{
	const char *a = strstr(url, "://");
	size_t auth, end;

	if (a != NULL) {
		a += 3;
		auth = strcspn(a, "/?#");
		for (size_t i = auth; i-- > 0;) {
			if (a[i] != '@')
				continue;
			/* scheme:// and the user, without ":PASSWORD". */
			h = fnv1a64(h, url, (size_t)(a - url));
			h = fnv1a64(h, a, strcspn(a, ":@"));
			url = a + i; /* from the '@' on */
			break;
		}
	}
	end = strcspn(url, "?#");
	h = fnv1a64(h, url, end);
	/* With a NUL, as every text: "ab"+"c" is not "a"+"bc". */
	return fnv1a64(h, "", 1);
}

void
target_fingerprint(const struct target_config *t, char *out, size_t outlen)
{
	uint64_t h = fnv1a64_str(FNV1A64_INIT, t->name);

	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		const struct setting *s = &settings[i];
		const char *p = (const char *)t + s->off;
		int64_t v;

		if (s->secret)
			continue;
		/* min_rate was left out of this table when it came (a change
		 * of it went unsaid at SIGHUP): at its default it adds
		 * nothing, so fingerprints a running older daemon stored
		 * still match a file that never set it. */
		if (s->off == offsetof(struct target_config, min_rate) &&
		    t->min_rate == RFTP_DEFAULT_TARGET_MIN_RATE)
			continue;
		/* The key's name first, so a value moved to another key
		 * reads as another setting. */
		h = fnv1a64_str(h, s->key);
		switch (s->kind) {
		case S_TEXT:
			if (s->off == offsetof(struct target_config, url)) {
				h = hash_url_public(h, p);
				break;
			}
			/* With its NUL: "ab"+"c" is not "a"+"bc". */
			h = fnv1a64(h, p, strlen(p) + 1);
			break;
		case S_INT:
			v = *(const int *)(const void *)p;
			h = fnv1a64(h, &v, sizeof(v));
			break;
		case S_U64:
			h = fnv1a64(h, p, sizeof(uint64_t));
			break;
		}
	}
	(void)snprintf(out, outlen, "%016llx", (unsigned long long)h);
}
