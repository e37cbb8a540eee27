/*
 * execargs.h - the `args` list of an exec: target ([target:NAME] in
 * relayftpd.ini) and its placeholders.
 *
 * Owns: the quoting of the list and the expansion of %p, %u, %s and %%.
 * Pure (no I/O, no allocation beyond the caller's buf), so config_target.c
 * checks a list with exactly the rules transport_exec.c runs it with.
 *
 * The list: items are separated by blanks (spaces, tabs). Outside double
 * quotes every character but a blank, '"' and '\' stands for itself;
 * double quotes keep blanks in an item and may cover part of it
 * (--name="a b" is one item, --name=a b); an empty "" is an empty item.
 * A backslash, inside quotes or not, escapes only '"' or '\'; before any
 * other character it is an error, so a typo cannot silently change a
 * value. No other shell syntax exists: $, *, ;, `, ' and so on are plain
 * characters, and nothing is ever interpreted by a shell.
 *
 * Placeholders, expanded inside each item after the split: %p the path in
 * the user's home ("/dir/name"), %u the user, %s the size in bytes ("" for
 * an event without bytes), %% a '%'. Any other '%' is an error. A value
 * is inserted as it is: it is never split, re-quoted or expanded again,
 * so an item holding %p is exactly one argv entry whatever the name.
 */
#ifndef RFTP_EXECARGS_H
#define RFTP_EXECARGS_H

#include "common/buf.h"

#include <stddef.h>

/* Most items in a list (argv holds the program and these). */
#define EXECARGS_MAX 32
/* Longest item, and longest argv entry once expanded: a path of
 * RFTP_PATH_MAX plus room for the text around it (checked, never cut). */
#define EXECARGS_ITEM_MAX (8 * 1024)

/* Called with each item of a list, unescaped, placeholders not expanded
 * (len bytes, no NUL in them; item is NUL-terminated). Returns 0 to go on,
 * -1 to stop the split (which then returns -1 with *why as the callback
 * left it). */
typedef int (*execargs_fn)(
    void *ctx, const char *item, size_t len, const char **why);

/*
 * Splits list into its items, calling fn(ctx, ...) for each. scratch
 * holds one item at a time (reset per item). 0, or -1 with *why: an
 * unterminated quote, a bad escape, more than EXECARGS_MAX items, an item
 * longer than scratch may hold, or what fn said.
 */
int execargs_split(const char *list, struct buf *scratch, execargs_fn fn,
    void *ctx, const char **why);

/* The values of the placeholders; NULL stands for "". */
struct execargs_values {
	const char *path; /* %p */
	const char *user; /* %u */
	const char *size; /* %s */
};

/* Appends item (len bytes) to out with its placeholders replaced by v.
 * 0, or -1 with *why (an unknown placeholder, or out is full). */
int execargs_expand(const char *item, size_t len,
    const struct execargs_values *v, struct buf *out, const char **why);

/* Checks a whole list (split and placeholders): 0, or -1 with *why. */
int execargs_check(const char *list, const char **why);

#endif
