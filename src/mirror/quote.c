/*
 * quote.c - see quote.h. Writes through one bounded cursor so no byte lands
 * past outlen and a command that does not fit is dropped whole.
 */
#include "mirror/quote.h"

#include <stdio.h>
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

/* Whether s is exactly 14 decimal digits. */
static int
is_when(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n == 14 && s[n] == '\0';
}

/* Appends " when when when UTC" after SITE UTIME's path (the times follow
 * the name, which servers read from the end). */
static enum quote_rc
add_utime_times(char *out, size_t outlen, const char *when)
{
	size_t n = strlen(out);
	int w =
	    snprintf(out + n, outlen - n, " %s %s %s UTC", when, when, when);

	if (w < 0 || (size_t)w >= outlen - n) {
		out[0] = '\0';
		return QUOTE_TOO_LONG;
	}
	return QUOTE_OK;
}

enum quote_rc
quote_time_command(char *out, size_t outlen, enum time_method m,
    const char *when, const char *path)
{
	char date[40];
	enum quote_rc rc;

	if (outlen > 0)
		out[0] = '\0';
	if (path == NULL)
		return QUOTE_TOO_LONG;
	if (!is_when(when))
		return QUOTE_UNSAYABLE;
	switch (m) {
	case TM_MFMT:
		return quote_command(
		    out, outlen, QUOTE_FTP, "MFMT", when, path);
	case TM_MDTM:
		return quote_command(
		    out, outlen, QUOTE_FTP, "MDTM", when, path);
	case TM_SITE_UTIME:
		rc = quote_command(
		    out, outlen, QUOTE_FTP, "SITE UTIME", path, NULL);
		return rc == QUOTE_OK ? add_utime_times(out, outlen, when) : rc;
	case TM_SFTP:
		/* curl_getdate's "20040912 15:05:58 -0700" form; when is 14
		 * digits, so the date always fits. */
		snprintf(date, sizeof(date), "%.8s %.2s:%.2s:%.2s +0000", when,
		    when + 8, when + 10, when + 12);
		return quote_command(
		    out, outlen, QUOTE_SFTP, "mtime", date, path);
	case TM_UNKNOWN:
	case TM_NONE:
		return QUOTE_UNSAYABLE;
	}
	return QUOTE_UNSAYABLE;
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
