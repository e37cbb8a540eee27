/*
 * rpath.c - see rpath.h. Must not do I/O or know any protocol library: it
 * is shared by every transport and tested alone.
 */
#include "mirror/rpath.h"

#include <stdio.h>
#include <string.h>

/* Leaves "" in a buffer whose content must not be used. */
static int
refuse(char *out, size_t outlen)
{
	if (outlen > 0)
		out[0] = '\0';
	return -1;
}

int
rpath_tmp_name(
    char *out, size_t outlen, const char *base, const char *rpath, int64_t tag)
{
	const char *leaf = strrchr(rpath, '/');
	int dirlen, n;

	leaf = leaf != NULL ? leaf + 1 : rpath;
	/* A path without '/' has no folder part: the name goes in base. */
	dirlen = leaf > rpath ? (int)(leaf - rpath - 1) : 0;
	n = snprintf(out, outlen, "%s%.*s/" RFTP_TMP_PREFIX "%lld.%.200s", base,
	    dirlen, rpath, (long long)tag, leaf);
	if (n < 0 || (size_t)n >= outlen)
		return refuse(out, outlen);
	return 0;
}

int
rpath_join(char *out, size_t outlen, const char *a, const char *b)
{
	int n = snprintf(out, outlen, "%s%s", a, b);

	if (n < 0 || (size_t)n >= outlen)
		return refuse(out, outlen);
	return 0;
}

size_t
rpath_need(const char *entry, const char *base, const char *rpath)
{
	return strlen(entry) + strlen(base) + strlen(rpath) + RPATH_TMP_EXTRA;
}

int
rpath_from_entry(char *out, size_t outlen, const char *entry, const char *path)
{
	size_t n = strlen(entry), r = strlen(path);

	/* "//abs" (a URL's "//abs" or "/%2Fabs"): from the server's root. */
	if (path[0] == '/' && path[1] == '/') {
		path++;
		r--;
		n = 0;
	}
	while (n > 0 && entry[n - 1] == '/')
		n--;
	if (n + r >= outlen)
		return refuse(out, outlen);
	memcpy(out, entry, n);
	memcpy(out + n, path, r);
	out[n + r] = '\0';
	return 0;
}

int
rpath_parent(const char *rpath, char *out, size_t outlen)
{
	const char *slash = strrchr(rpath, '/');

	size_t n;

	if (slash == NULL || slash == rpath)
		return -1;
	n = (size_t)(slash - rpath);
	if (n >= outlen)
		return -1;
	memcpy(out, rpath, n);
	out[n] = '\0';
	return 0;
}
