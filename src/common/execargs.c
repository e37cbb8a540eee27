/*
 * execargs.c - see execargs.h. Must not run anything, read files or know
 * targets: it turns text into argv entries and nothing else.
 */
#include "common/execargs.h"

#include <string.h>

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int
execargs_split(const char *list, struct buf *scratch, execargs_fn fn, void *ctx,
    const char **why)
{
	const char *p = list;
	size_t n = 0;

	*why = NULL;
	for (;;) {
		int quoted = 0;

		while (is_blank(*p))
			p++;
		if (*p == '\0')
			return 0;
		if (++n > EXECARGS_MAX) {
			*why = "more than 32 items";
			return -1;
		}
		buf_reset(scratch);
		/* One item: up to a blank outside quotes, or the end. */
		while (*p != '\0' && (quoted || !is_blank(*p))) {
			char c = *p++;

			if (c == '"') {
				quoted = !quoted;
				continue;
			}
			if (c == '\\') {
				if (*p != '"' && *p != '\\') {
					*why = "a backslash may only escape \" "
					       "or \\";
					return -1;
				}
				c = *p++;
			}
			if (buf_add(scratch, &c, 1) < 0) {
				*why = "an item is too long";
				return -1;
			}
		}
		if (quoted) {
			*why = "a double quote is not closed";
			return -1;
		}
		if (fn(ctx, buf_str(scratch), scratch->len, why) < 0) {
			if (*why == NULL)
				*why = "invalid item";
			return -1;
		}
	}
}

int
execargs_expand(const char *item, size_t len, const struct execargs_values *v,
    struct buf *out, const char **why)
{
	size_t i = 0;

	*why = NULL;
	while (i < len) {
		const char *pct = memchr(item + i, '%', len - i);
		size_t lit = pct != NULL ? (size_t)(pct - item) - i : len - i;
		const char *val;

		if (buf_add(out, item + i, lit) < 0)
			goto full;
		i += lit;
		if (i == len)
			break;
		/* item[i] is '%'. */
		if (i + 1 >= len) {
			*why = "a '%' ends an item (write %% for a '%')";
			return -1;
		}
		switch (item[i + 1]) {
		case 'p':
			val = v->path;
			break;
		case 'u':
			val = v->user;
			break;
		case 's':
			val = v->size;
			break;
		case '%':
			val = "%";
			break;
		default:
			*why = "unknown placeholder (expected %p, %u, %s or "
			       "%%)";
			return -1;
		}
		if (val != NULL && buf_adds(out, val) < 0)
			goto full;
		i += 2;
	}
	return 0;
full:
	*why = "an expanded item is too long";
	return -1;
}

/* execargs_check's callback: expands with sample values. */
static int
check_item(void *ctx, const char *item, size_t len, const char **why)
{
	static const struct execargs_values sample = { "/d/f", "u", "1" };
	struct buf *out = ctx;

	buf_reset(out);
	return execargs_expand(item, len, &sample, out, why);
}

int
execargs_check(const char *list, const char **why)
{
	struct buf scratch, out;
	int rc;

	buf_init(&scratch, EXECARGS_ITEM_MAX);
	buf_init(&out, EXECARGS_ITEM_MAX);
	rc = execargs_split(list, &scratch, check_item, &out, why);
	buf_free(&scratch);
	buf_free(&out);
	return rc;
}
