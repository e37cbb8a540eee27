/*
 * quote.c - see quote.h. Writes through one bounded cursor so no byte lands
 * past outlen and a command that does not fit is dropped whole.
 */
#include "mirror/quote.h"

#include <string.h>

struct cursor {
	char *out;
	size_t cap; /* bytes usable before the NUL */
	size_t len;
	int full;
};

static void
put(struct cursor *c, const char *p, size_t n)
{
	if (c->full || n > c->cap - c->len) {
		c->full = 1;
		return;
	}
	memcpy(c->out + c->len, p, n);
	c->len += n;
}

static enum quote_rc
put_ftp_arg(struct cursor *c, const char *arg, int last)
{
	size_t n = strlen(arg);

	/* A CR or LF would end this command and start one of the name's
	 * choosing (RFC 959 section 4.1.3: commands end with CRLF). */
	if (n == 0 || strpbrk(arg, "\r\n") != NULL)
		return QUOTE_UNSAYABLE;
	/* Only the last argument runs to the end of the line. */
	if (!last && strchr(arg, ' ') != NULL)
		return QUOTE_UNSAYABLE;
	put(c, " ", 1);
	put(c, arg, n);
	return QUOTE_OK;
}

static enum quote_rc
put_sftp_arg(struct cursor *c, const char *arg)
{
	const char *p = arg;

	if (*arg == '\0')
		return QUOTE_UNSAYABLE; /* libcurl: "Empty quotes" */
	put(c, " \"", 2);
	while (*p != '\0') {
		size_t n = strcspn(p, "\"\\");

		put(c, p, n);
		p += n;
		if (*p != '\0') {
			put(c, "\\", 1);
			put(c, p, 1);
			p++;
		}
	}
	put(c, "\"", 1);
	return QUOTE_OK;
}

enum quote_rc
quote_command(char *out, size_t outlen, enum quote_proto proto,
    const char *verb, const char *arg1, const char *arg2)
{
	struct cursor c = { out, outlen > 0 ? outlen - 1 : 0, 0, 0 };
	enum quote_rc rc = QUOTE_OK;

	if (outlen == 0)
		return QUOTE_TOO_LONG;
	put(&c, verb, strlen(verb));
	switch (proto) {
	case QUOTE_FTP:
		rc = put_ftp_arg(&c, arg1, arg2 == NULL);
		if (rc == QUOTE_OK && arg2 != NULL)
			rc = put_ftp_arg(&c, arg2, 1);
		break;
	case QUOTE_SFTP:
		rc = put_sftp_arg(&c, arg1);
		if (rc == QUOTE_OK && arg2 != NULL)
			rc = put_sftp_arg(&c, arg2);
		break;
	}
	if (rc == QUOTE_OK && c.full)
		rc = QUOTE_TOO_LONG;
	out[rc == QUOTE_OK ? c.len : 0] = '\0';
	return rc;
}

const char *
quote_strerror(enum quote_rc rc)
{
	switch (rc) {
	case QUOTE_OK:
		return "ok";
	case QUOTE_TOO_LONG:
		return "command too long";
	case QUOTE_UNSAYABLE:
		return "a name the target's command syntax cannot carry "
		       "(CR or LF over FTP, or empty)";
	}
	return "unknown";
}
