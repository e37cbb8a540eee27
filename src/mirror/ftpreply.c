/*
 * ftpreply.c - see ftpreply.h.
 *
 * Every function reads at most the bytes it was given and writes at most
 * the sizes of its output arrays; a value that does not parse is "unknown"
 * (a size) or a refusal (a name), never a guess, because the caller acts on
 * it (resync queues a push for a size that differs).
 */
#include "mirror/ftpreply.h"

#include "common/numparse.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

/* Hex digits of each algorithm's digest. */
static const size_t hex_len[HASH_ALGO_COUNT] = {
	[HASH_SHA256] = 64,
	[HASH_SHA1] = 40,
	[HASH_MD5] = 32,
	[HASH_CRC32] = 8,
};

/* Copies the name [p, p + n) into out->name; -1 for one to skip. */
static int
take_name(const char *p, size_t n, struct ftp_entry *out)
{
	if (n == 0 || n > NAME_MAX || memchr(p, '/', n) != NULL ||
	    memchr(p, '\0', n) != NULL)
		return -1;
	if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
		return -1;
	memcpy(out->name, p, n);
	out->name[n] = '\0';
	return 0;
}

/* Decimal [p, p + n) as a size, or -1 if it is not one. */
static int64_t
take_size(const char *p, size_t n)
{
	char digits[24];
	uint64_t v;

	if (n == 0 || n >= sizeof(digits))
		return -1;
	memcpy(digits, p, n);
	digits[n] = '\0';
	if (parse_u64(digits, INT64_MAX, &v) < 0)
		return -1;
	return (int64_t)v;
}

int
ftpreply_mlsd_entry(const char *line, size_t len, struct ftp_entry *out)
{
	const char *sp = memchr(line, ' ', len);
	const char *p = line;

	if (sp == NULL)
		return -1;
	out->size = -1;
	out->is_dir = 0;
	/* The facts: "name=value;" each, up to the blank before the name. */
	while (p < sp) {
		const char *semi = memchr(p, ';', (size_t)(sp - p));
		size_t n = semi ? (size_t)(semi - p) : (size_t)(sp - p);

		if (n > 5 && strncasecmp(p, "type=", 5) == 0) {
			const char *v = p + 5;
			size_t vn = n - 5;

			if ((vn == 4 && strncasecmp(v, "cdir", 4) == 0) ||
			    (vn == 4 && strncasecmp(v, "pdir", 4) == 0))
				return -1;
			out->is_dir = vn == 3 && strncasecmp(v, "dir", 3) == 0;
		} else if (n > 5 && strncasecmp(p, "size=", 5) == 0) {
			out->size = take_size(p + 5, n - 5);
		}
		p += n + 1;
	}
	return take_name(sp + 1, len - (size_t)(sp + 1 - line), out);
}

/* Where the name of the LIST line [line, end) starts (after the blank that
 * ends the eight fields), with the size in *size; NULL if it has no eight
 * fields. */
static const char *
list_name_start(const char *line, const char *end, int64_t *size)
{
	const char *p = line;

	*size = -1;
	for (int field = 0; field < 8; field++) {
		const char *start;

		while (p < end && *p == ' ')
			p++;
		start = p;
		while (p < end && *p != ' ')
			p++;
		if (p == start || p == end)
			return NULL;
		if (field == 4)
			*size = take_size(start, (size_t)(p - start));
	}
	return p + 1; /* p < end: see the loop */
}

int
ftpreply_list_entry(const char *line, size_t len, struct ftp_entry *out)
{
	const char *p = line, *end = line + len;

	if (len == 0 || (line[0] != '-' && line[0] != 'd'))
		return -1;
	out->is_dir = line[0] == 'd';
	/* Eight fields (mode, links, user, group, size, month, day, time or
	 * year), one blank, then the name, which may hold blanks of its own,
	 * leading ones too ("ls -l" and vsftpd put exactly one blank before
	 * it; ftpreply_listing takes off what a server pads more). */
	p = list_name_start(line, end, &out->size);
	if (p == NULL)
		return -1;
	return take_name(p, (size_t)(end - p), out);
}

static int
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* Copies n hex digits lowercased, with the NUL. */
static void
copy_hex(const char *p, size_t n, char hex[HASH_HEX_MAX])
{
	for (size_t i = 0; i < n; i++)
		hex[i] = (char)(p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 'a' :
		                                             p[i]);
	hex[n] = '\0';
}

static size_t
hex_run(const char *p)
{
	size_t n = 0;

	while (is_hex(p[n]))
		n++;
	return n;
}

int
ftpreply_find_hex(const char *replies, const char *code, size_t hexlen,
    char hex[HASH_HEX_MAX])
{
	const char *p = replies;
	size_t codelen = strlen(code);

	if (hexlen == 0 || hexlen >= HASH_HEX_MAX || codelen == 0)
		return 0;
	while ((p = strstr(p, code)) != NULL) {
		const char *h = p + codelen;
		size_t n = hex_run(h);

		/* The code must start a reply line, not sit inside one. */
		if ((p == replies || p[-1] == '\n') && n == hexlen &&
		    (h[n] == ' ' || h[n] == '\r' || h[n] == '\n' ||
		        h[n] == '\0')) {
			copy_hex(h, n, hex);
			return 1;
		}
		p = h;
	}
	return 0;
}

int
ftpreply_find_size(const char *replies, uint64_t *size)
{
	const char *p = replies;
	int found = 0;

	/* The last such line: the replies of a request may begin with a
	 * login's, and SIZE is the request's last command. */
	while ((p = strstr(p, "213 ")) != NULL) {
		const char *line = p;
		char num[24];
		uint64_t v;
		size_t n;

		p += 4;
		if (line != replies && line[-1] != '\n')
			continue;
		n = strcspn(p, "\r\n");
		if (n == 0 || n >= sizeof(num))
			continue;
		memcpy(num, p, n);
		num[n] = '\0';
		if (parse_u64(num, UINT64_MAX, &v) == 0) {
			*size = v;
			found = 1;
		}
	}
	return found;
}

/* A decimal digit (not isdigit: no locale). */
static int
digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Whether line starts a reply: a code whose first digit is 1 to 5, as
 * RFC 959 4.2 has them ("050 " is no reply), then sep. */
static int
reply_code_at(const char *line, char sep)
{
	return line[0] >= '1' && line[0] <= '5' && digit(line[1]) &&
	    digit(line[2]) && line[3] == sep;
}

static int
refusal(const char *line)
{
	return line[0] == '4' || line[0] == '5';
}

/* The line after line, or NULL at the end. */
static const char *
reply_next(const char *line)
{
	line = strchr(line, '\n');
	return line != NULL ? line + 1 : NULL;
}

/* The last reply line of replies: a final one ("NNN "), or with refusals
 * the first line ("NNN-", or "NNN " alone) of the last 4xx or 5xx reply:
 * a multi-line reply's lines in between (which RFC 959 4.2 lets start
 * with the code and '-', as pure-ftpd's do: "451-Error during write to
 * file" ... "451 0.000 seconds (measured here)") are inside it, and its
 * reason is at its start, not in the final line. NULL if none. */
static const char *
last_reply_line(const char *replies, int refusals)
{
	const char *line = replies, *found = NULL, *open = NULL;

	for (; line != NULL && *line != '\0'; line = reply_next(line)) {
		if (open != NULL) {
			/* Inside a multi-line reply until its code and a
			 * blank (RFC 959 4.2). */
			if (strncmp(line, open, 3) == 0 && line[3] == ' ') {
				if (!refusals)
					found = line;
				open = NULL;
			}
			continue;
		}
		if (reply_code_at(line, '-')) {
			open = line;
			if (refusals && refusal(line))
				found = line;
		} else if (reply_code_at(line, ' ') &&
		    (!refusals || refusal(line))) {
			found = line;
		}
	}
	return found;
}

/* One reply line from p to its end into out at *n (bytes outside
 * printable ASCII made '?'), cut to fit outlen with its NUL. */
static void
copy_line(const char *p, char *out, size_t outlen, size_t *n)
{
	for (; *p != '\0' && *p != '\r' && *p != '\n' && *n + 1 < outlen;
	     p++, (*n)++) {
		unsigned char c = (unsigned char)*p;

		out[*n] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[*n] = '\0';
}

/* found (a reply line, or NULL) without its end into out, bytes outside
 * printable ASCII made '?', cut to fit. With whole, a multi-line reply's
 * other lines follow its first, each after "; " without its code or
 * leading blanks. Returns its code, 0 if none. */
static int
copy_reply(const char *found, int whole, char *out, size_t outlen)
{
	size_t n = 0;

	if (found == NULL || outlen == 0)
		return 0;
	copy_line(found, out, outlen, &n);
	for (const char *line = reply_next(found); whole && found[3] == '-' &&
	     line != NULL && *line != '\0' && n + 3 < outlen;
	     line = reply_next(line)) {
		int last = strncmp(line, found, 3) == 0 && line[3] == ' ';

		if (strncmp(line, found, 3) == 0 &&
		    (line[3] == ' ' || line[3] == '-'))
			line += 4;
		line += strspn(line, " ");
		if (*line != '\r' && *line != '\n' && *line != '\0') {
			memcpy(out + n, "; ", 2);
			n += 2;
			copy_line(line, out, outlen, &n);
		}
		if (last)
			break;
	}
	return (found[0] - '0') * 100 + (found[1] - '0') * 10 +
	    (found[2] - '0');
}

int
ftpreply_size_answer(
    const char *replies, uint64_t *size, char *said, size_t saidlen)
{
	const char *line = replies, *found = NULL;
	char num[24];
	size_t n;

	for (; line != NULL && *line != '\0'; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (strncmp(line, "213 ", 4) == 0)
			found = line;
	}
	if (found == NULL)
		return 0;
	n = strcspn(found + 4, "\r\n");
	if (n > 0 && n < sizeof(num)) {
		memcpy(num, found + 4, n);
		num[n] = '\0';
		if (parse_u64(num, INT64_MAX, size) == 0)
			return 1;
	}
	copy_reply(found, 0, said, saidlen);
	return -1;
}

int
ftpreply_last_no(const char *replies, char *out, size_t outlen)
{
	return copy_reply(last_reply_line(replies, 1), 1, out, outlen) != 0;
}

int
ftpreply_has_code(const char *replies, const char *code)
{
	for (const char *line = replies; line != NULL && *line != '\0';
	     line = reply_next(line))
		if (strncmp(line, code, 3) == 0 &&
		    (line[3] == ' ' || line[3] == '-'))
			return 1;
	return 0;
}

size_t
ftpreply_count_final(const char *replies, const char *after)
{
	size_t n = 0;
	int seen = 0;

	for (const char *line = replies; line != NULL && *line != '\0';
	     line = reply_next(line)) {
		/* Three digits and a blank, as libcurl ends a reply
		 * (ftp.c LASTLINE, any digits: one it ends a reply at and
		 * not counted here would name a folder above the refused
		 * one). A multi-line reply's text line without the code
		 * ("The folder says hi", vsftpd's dirmessage file) is none:
		 * counted, the refused CWD was taken for a deeper one and
		 * asked about from there up, a walk each. */
		if (!digit(line[0]) || !digit(line[1]) || !digit(line[2]) ||
		    line[3] != ' ')
			continue;
		/* The first such reply only: a target may answer a CWD with
		 * the PWD's code too (257 "/a" is current), which libcurl
		 * takes as gone through; counted from it, the walk's refused
		 * CWD was named a folder above the one refused. */
		if (after != NULL && !seen && strncmp(line, after, 3) == 0) {
			seen = 1;
			n = 0;
		} else {
			n++;
		}
	}
	return n;
}

int
ftpreply_has_code_after(
    const char *replies, const char *code, const char *after)
{
	int seen = 0;

	for (const char *line = replies; line != NULL && *line != '\0';
	     line = reply_next(line)) {
		/* strncmp first: a line shorter than a code ends in it. */
		if (strncmp(line, after, 3) == 0 &&
		    (line[3] == ' ' || line[3] == '-'))
			seen = 0;
		else if (strncmp(line, code, 3) == 0 &&
		    (line[3] == ' ' || line[3] == '-'))
			seen = 1;
	}
	return seen;
}

int
ftpreply_last(const char *replies, char *out, size_t outlen)
{
	return copy_reply(last_reply_line(replies, 0), 0, out, outlen);
}

int
ftpreply_find_hash(
    const char *replies, enum hash_algo *algo, char hex[HASH_HEX_MAX])
{
	const char *p = replies;

	while ((p = strstr(p, "213 ")) != NULL) {
		const char *line = p;
		char name[16];
		size_t n;

		p += 4;
		if (line != replies && line[-1] != '\n')
			continue;
		n = strcspn(p, " \r\n");
		if (n == 0 || n >= sizeof(name) || p[n] != ' ')
			continue;
		memcpy(name, p, n);
		name[n] = '\0';
		if (hash_lookup(name, algo) < 0)
			continue;
		p += n + 1;
		p += strcspn(p, " \r\n"); /* the range, "0-49" */
		if (*p != ' ')
			continue;
		p++;
		n = hex_run(p);
		if (n != hex_len[*algo] ||
		    (p[n] != ' ' && p[n] != '\r' && p[n] != '\n' &&
		        p[n] != '\0'))
			continue;
		copy_hex(p, n, hex);
		return 1;
	}
	return 0;
}

int
ftpreply_mlst_is_dir(const char *replies)
{
	int in_250 = 0; /* inside a "250-" reply, as MLST's entry is */

	for (const char *p = replies; *p != '\0';) {
		size_t n = strcspn(p, "\r\n");

		if (n >= 4 && digit(p[0]) && digit(p[1]) && digit(p[2]) &&
		    (p[3] == '-' || p[3] == ' '))
			in_250 = strncmp(p, "250-", 4) == 0;
		/* " facts; pathname": the facts end at the first blank. */
		else if (in_250 && n > 1 && p[0] == ' ' && p[1] != ' ') {
			const char *f = p + 1, *end = memchr(f, ' ', n - 1);

			while (end != NULL && f < end) {
				const char *semi =
				    memchr(f, ';', (size_t)(end - f));
				size_t fn = semi ? (size_t)(semi - f) :
				                   (size_t)(end - f);

				if ((fn == 8 &&
				        strncasecmp(f, "type=dir", 8) == 0) ||
				    (fn == 9 &&
				        strncasecmp(f, "type=cdir", 9) == 0))
					return 1;
				f += fn + 1;
			}
		}
		p += n;
		p += strspn(p, "\r\n");
	}
	return 0;
}

int
ftpreply_feat_lists(const char *replies, const char *feature)
{
	size_t n = strlen(feature);

	if (n == 0)
		return 0;
	for (const char *p = replies; (p = strstr(p, feature)) != NULL; p++)
		if (p > replies && p[-1] == ' ' &&
		    (p[n] == '\r' || p[n] == '\n' || p[n] == ' ' ||
		        p[n] == '\0'))
			return 1;
	return 0;
}

/* Takes pad leading blanks off e's name; -1 if what is left is no name
 * take_name would give (empty, "." or ".."). */
static int
strip_pad(struct ftp_entry *e, size_t pad)
{
	size_t n = strlen(e->name);

	if (pad >= n)
		return -1;
	memmove(e->name, e->name + pad, n - pad + 1);
	return strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0 ? -1 : 0;
}

/* The line of body at *off (its CR LF or LF taken off), its length in *n;
 * *off moves past it. NULL at the end. */
static const char *
next_line(const char *body, size_t len, size_t *off, size_t *n)
{
	const char *line = body + *off, *nl;

	if (*off >= len)
		return NULL;
	nl = memchr(line, '\n', len - *off);
	*n = nl != NULL ? (size_t)(nl - line) : len - *off;
	*off += *n + 1;
	if (*n > 0 && line[*n - 1] == '\r')
		(*n)--;
	return line;
}

void
ftpreply_listing(const char *body, size_t len, int mlsd,
    void (*fn)(void *ctx, const char *name, int64_t size, int is_dir),
    void *ctx)
{
	const char *line;
	size_t pad = SIZE_MAX, off = 0, n;

	/* LIST: blanks that every name starts with ("." and ".." too) are
	 * the server's padding, not the names' (one blank ends the date in
	 * "ls -l" and vsftpd; a server that pads more pads every line). */
	while (!mlsd && (line = next_line(body, len, &off, &n)) != NULL) {
		const char *name;
		int64_t size;
		size_t lead = 0;

		if (n == 0 || (line[0] != '-' && line[0] != 'd'))
			continue;
		name = list_name_start(line, line + n, &size);
		if (name == NULL)
			continue;
		while (name + lead < line + n && name[lead] == ' ')
			lead++;
		if (lead < pad)
			pad = lead;
	}
	off = 0;
	while ((line = next_line(body, len, &off, &n)) != NULL) {
		struct ftp_entry e;

		if (mlsd ? ftpreply_mlsd_entry(line, n, &e) == 0 :
		           ftpreply_list_entry(line, n, &e) == 0 &&
		            (pad == SIZE_MAX || pad == 0 ||
		                strip_pad(&e, pad) == 0))
			fn(ctx, e.name, e.size, e.is_dir);
	}
}
