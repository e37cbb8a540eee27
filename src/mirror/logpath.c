/*
 * logpath.c - see logpath.h.
 */
#include "mirror/logpath.h"

#include <stdio.h>
#include <string.h>

static int
plain_byte(unsigned char c)
{
	return c > 0x20 && c != 0x7f && c != '"' && c != '\\';
}

/* A UTF-8 continuation byte: never the first of a character. */
static int
is_continuation(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

/* Appends the n bytes at p to out at *o, escaped; stops short of cap. */
static void
put_escaped(char *out, size_t cap, size_t *o, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		char esc[5];
		size_t k;

		if (c == '"' || c == '\\')
			k = (size_t)snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			k = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
		else {
			esc[0] = (char)c;
			k = 1;
		}
		if (*o + k >= cap)
			return;
		memcpy(out + *o, esc, k);
		*o += k;
	}
}

const char *
logpath(char *out, size_t outlen, const char *user, const char *path)
{
	const char *lead = user != NULL ? "/" : "";
	size_t ul = user != NULL ? strlen(user) : 0;
	size_t pl = strlen(path), total = strlen(lead) + ul + pl;
	size_t o = 0;
	int plain = total <= LOGPATH_KEEP;
	char whole[LOGPATH_KEEP + 1];

	if (outlen == 0)
		return out;
	if (user == NULL)
		user = "";
	for (size_t i = 0; plain && i < ul; i++)
		plain = plain_byte((unsigned char)user[i]);
	for (size_t i = 0; plain && i < pl; i++)
		plain = plain_byte((unsigned char)path[i]);
	if (plain) {
		snprintf(out, outlen, "%s%s%s", lead, user, path);
		return out;
	}
	out[o++] = '"';
	if (total <= LOGPATH_KEEP) {
		snprintf(whole, sizeof(whole), "%s%s%s", lead, user, path);
		put_escaped(out, outlen - 1, &o, whole, total);
	} else {
		/* The ends of "/user/path": the start names the folder, the
		 * end the file. */
		char marker[48];
		size_t head = LOGPATH_KEEP / 2, tail = LOGPATH_KEEP / 2;
		size_t k;

		if (tail > pl)
			tail = pl;
		snprintf(whole, sizeof(whole), "%s%s%s", lead, user, path);
		/* Cut between characters: a UTF-8 sequence cut in two is
		 * written '?' by the log, so a path of CJK names read
		 * "日日??[...]?日" to the admin. */
		while (head > 0 && is_continuation(whole[head]))
			head--;
		while (tail > 0 && is_continuation(path[pl - tail]))
			tail--;
		put_escaped(out, outlen - 1, &o, whole, head);
		k = (size_t)snprintf(marker, sizeof(marker),
		    "[...%zu bytes...]", total - head - tail);
		if (o + k < outlen - 1) {
			memcpy(out + o, marker, k);
			o += k;
		}
		put_escaped(out, outlen - 1, &o, path + pl - tail, tail);
	}
	if (o < outlen - 1)
		out[o++] = '"';
	out[o] = '\0';
	return out;
}
