/*
 * mounts.c - see mounts.h.
 *
 * A mountinfo line (proc(5)): "36 35 98:0 /mnt1 /mnt/parent rw ... -
 * ext3 /dev/root rw": the mount ID first, the mount point fifth, with
 * space, tab, newline and backslash written as \040 \011 \012 \134.
 */
#include "mirror/mounts.h"

#include "common/numparse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A mount table far beyond any host's (containers make thousands of
 * mounts, each line some 100 bytes): a read stops there. */
#define MOUNTS_TEXT_MAX (64u << 20)

static int
cmp_id(const void *x, const void *y)
{
	const struct mount_entry *a = x, *b = y;

	return a->id < b->id ? -1 : a->id > b->id;
}

/* The field at *p (up to a blank or end), unescaped into a new string;
 * *p moves past it. NULL without memory. */
static char *
field_dup(const char **p, const char *end)
{
	const char *s = *p;
	char *out, *o;

	while (*p < end && **p != ' ')
		(*p)++;
	out = malloc((size_t)(*p - s) + 1);
	if (out == NULL)
		return NULL;
	for (o = out; s < *p; s++) {
		if (*s == '\\' && *p - s >= 4 && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return out;
}

/* Past the field at *p and the blanks after it. */
static void
skip_field(const char **p, const char *end)
{
	while (*p < end && **p != ' ')
		(*p)++;
	while (*p < end && **p == ' ')
		(*p)++;
}

int
mounts_parse(const char *text, size_t len, struct mount_table *t)
{
	const char *p = text, *end = text + len;
	size_t cap = 0;

	mounts_free(t);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *q = p;
		char num[24];
		size_t k = 0;
		uint64_t id;

		if (eol == NULL)
			eol = end;
		while (q < eol && *q != ' ' && k + 1 < sizeof(num))
			num[k++] = *q++;
		num[k] = '\0';
		/* Past the ID, the parent's, major:minor and the root. */
		q = p;
		p = eol + 1;
		if (parse_u64(num, UINT64_MAX, &id) < 0)
			continue;
		for (int f = 0; f < 4; f++)
			skip_field(&q, eol);
		if (q >= eol)
			continue;
		if (t->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct mount_entry *nv =
			    realloc(t->v, ncap * sizeof(*nv));

			if (nv == NULL)
				goto fail;
			t->v = nv;
			cap = ncap;
		}
		t->v[t->n].id = id;
		if ((t->v[t->n].path = field_dup(&q, eol)) == NULL)
			goto fail;
		t->n++;
	}
	if (t->n > 0)
		qsort(t->v, t->n, sizeof(*t->v), cmp_id);
	return 0;
fail:
	mounts_free(t);
	return -1;
}

int
mounts_read(int fd, struct mount_table *t)
{
	size_t cap = 64 * 1024, len = 0;
	char *buf = malloc(cap), *nb;
	ssize_t n;
	int rc;

	mounts_free(t);
	if (buf == NULL)
		return -1;
	if (lseek(fd, 0, SEEK_SET) < 0)
		goto fail;
	for (;;) {
		if (len == cap) {
			if (cap >= MOUNTS_TEXT_MAX) {
				errno = EFBIG;
				goto fail;
			}
			if ((nb = realloc(buf, cap * 2)) == NULL)
				goto fail;
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	rc = mounts_parse(buf, len, t);
	free(buf);
	return rc;
fail:
	free(buf);
	return -1;
}

void
mounts_free(struct mount_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].path);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

void
mounts_diff(const struct mount_table *a, const struct mount_table *b,
    void (*fn)(void *ctx, const char *path), void *ctx)
{
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		if (j == b->n || (i < a->n && a->v[i].id < b->v[j].id))
			fn(ctx, a->v[i++].path);
		else if (i == a->n || b->v[j].id < a->v[i].id)
			fn(ctx, b->v[j++].path);
		else {
			/* An ID freed and given to a new mount. */
			if (strcmp(a->v[i].path, b->v[j].path) != 0) {
				fn(ctx, a->v[i].path);
				fn(ctx, b->v[j].path);
			}
			i++;
			j++;
		}
	}
}
