/*
 * pathnorm.c - pure virtual-path normalisation. See pathnorm.h.
 *
 * Works component by component into the output buffer, keeping a stack of
 * component start offsets so ".." pops in O(1); every write is bounded by
 * outlen and every component by NAME_MAX.
 */
#include "common/pathnorm.h"

#include "common/limits.h"

#include <limits.h>
#include <string.h>

int
path_is_partial_name(const char *name)
{
	return strncmp(name, RFTP_PARTIAL_PREFIX,
	           sizeof(RFTP_PARTIAL_PREFIX) - 1) == 0;
}

static enum path_err
push_components(const char *s, size_t slen, char *out, size_t outlen,
    size_t *len, size_t *starts, size_t *depth)
{
	size_t i = 0;

	while (i < slen) {
		size_t j = i, clen;

		while (j < slen && s[j] != '/')
			j++;
		clen = j - i;
		if (clen == 0 || (clen == 1 && s[i] == '.')) {
			/* empty ("//") or "." : nothing */
		} else if (clen == 2 && s[i] == '.' && s[i + 1] == '.') {
			if (*depth > 0)
				*len = starts[--(*depth)];
		} else {
			if (clen > NAME_MAX)
				return PATH_ETOOLONG;
			if (*depth >= RFTP_PATH_DEPTH_MAX)
				return PATH_EDEEP;
			if (clen >= sizeof(RFTP_PARTIAL_PREFIX) - 1 &&
			    memcmp(s + i, RFTP_PARTIAL_PREFIX,
			        sizeof(RFTP_PARTIAL_PREFIX) - 1) == 0)
				return PATH_ERESERVED;
			/* "/" + component + NUL must fit */
			if (*len + 1 + clen + 1 > outlen)
				return PATH_ETOOLONG;
			starts[(*depth)++] = *len;
			out[(*len)++] = '/';
			memcpy(out + *len, s + i, clen);
			*len += clen;
		}
		i = j + 1;
	}
	return PATH_OK;
}

enum path_err
path_normalize(
    const char *cwd, const char *arg, size_t arglen, char *out, size_t outlen)
{
	size_t starts[RFTP_PATH_DEPTH_MAX];
	size_t len = 0, depth = 0;
	enum path_err err;

	if (outlen < 2)
		return PATH_ETOOLONG;
	for (size_t i = 0; i < arglen; i++)
		if (arg[i] == '\0' || arg[i] == '\r' || arg[i] == '\n')
			return PATH_EBADCHAR;
	if (arglen > RFTP_PATH_MAX)
		return PATH_ETOOLONG;
	if (arglen == 0 || arg[0] != '/') {
		err = push_components(
		    cwd, strlen(cwd), out, outlen, &len, starts, &depth);
		if (err != PATH_OK)
			return err;
	}
	err = push_components(arg, arglen, out, outlen, &len, starts, &depth);
	if (err != PATH_OK)
		return err;
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	return PATH_OK;
}

const char *
path_strerror(enum path_err err)
{
	switch (err) {
	case PATH_OK:
		return "OK";
	case PATH_EBADCHAR:
		return "Invalid character in path";
	case PATH_ETOOLONG:
		return "Path too long";
	case PATH_EDEEP:
		return "Path too deep";
	case PATH_ERESERVED:
		return "Reserved file name";
	}
	return "Invalid path";
}

const char *
path_rel(const char *vpath)
{
	if (vpath[0] == '/' && vpath[1] == '\0')
		return ".";
	return vpath[0] == '/' ? vpath + 1 : vpath;
}

const char *
path_leaf(const char *vpath)
{
	const char *slash = strrchr(vpath, '/');

	return slash != NULL ? slash + 1 : vpath;
}

int
path_child(const char *dir, const char *name, char *out, size_t outlen)
{
	size_t dl = strlen(dir), nl = strlen(name), depth = 1;

	if (dl == 1 && dir[0] == '/')
		dl = 0; /* "/" + name, not "//" + name */
	if (dl + 1 + nl + 1 > outlen)
		return -1;
	/* As deep as path_normalize lets a path be, and no deeper: the
	 * catch-up's walk stops there too. */
	for (size_t i = 0; i < dl; i++)
		depth += dir[i] == '/';
	if (depth > RFTP_PATH_DEPTH_MAX)
		return -1;
	memcpy(out, dir, dl);
	out[dl] = '/';
	memcpy(out + dl + 1, name, nl + 1);
	return 0;
}

int
path_cmp_tree(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;
	int kx, ky;

	while (*x != '\0' && *x == *y) {
		x++;
		y++;
	}
	kx = *x == '\0' ? 0 : *x == '/' ? 1 : *x + 1;
	ky = *y == '\0' ? 0 : *y == '/' ? 1 : *y + 1;
	return kx - ky;
}
