/*
 * jobrules.c - see jobrules.h. Must stay pure (no SQLite, no I/O): adding
 * an op is one row of op_rules[], tested alone.
 */
#include "mirror/jobrules.h"

#include <string.h>

/* Indexed by enum job_op. */
static const struct op_rule op_rules[] = {
	[JOB_PUT] = { "put", 0, 0, 0, 0 },
	[JOB_DELETE] = { "delete", 0, 0, 1, 0 },
	[JOB_RENAME] = { "rename", 1, 1, 0, 1 },
	[JOB_MKDIR] = { "mkdir", 0, 0, 0, 0 },
	[JOB_RMDIR] = { "rmdir", 0, 0, 1, 0 },
	[JOB_TIME] = { "time", 0, 0, 0, 0 },
};
#define NOPS (sizeof(op_rules) / sizeof(op_rules[0]))

const struct op_rule *
jobrules_of(int64_t op)
{
	static const struct op_rule unknown = { "unknown", 1, 0, 0, 0 };

	return op >= 0 && (uint64_t)op < NOPS ? &op_rules[op] : &unknown;
}

enum job_op
jobrules_op_of(int64_t v)
{
	switch (v) {
	case JOB_DELETE:
		return JOB_DELETE;
	case JOB_RENAME:
		return JOB_RENAME;
	case JOB_MKDIR:
		return JOB_MKDIR;
	case JOB_RMDIR:
		return JOB_RMDIR;
	case JOB_TIME:
		return JOB_TIME;
	case JOB_PUT:
		return JOB_PUT;
	}
	return JOB_PUT;
}

const char *
job_state_name(enum job_state s)
{
	switch (s) {
	case JOB_QUEUED:
		return "queued";
	case JOB_RUNNING:
		return "running";
	case JOB_FAILED:
		return "failed";
	case JOB_INTENT:
		return "intent";
	}
	return "queued"; /* not reached: every state is named above */
}

/*
 * A push reads the file's bytes and time when it runs, so a later change
 * of either needs no job of its own.
 */
const struct job_merge job_merges[] = {
	{ JOB_PUT, JOB_PUT, JOB_PUT },
	{ JOB_PUT, JOB_TIME, JOB_PUT },   /* the push sets the time too */
	{ JOB_TIME, JOB_TIME, JOB_TIME }, /* the newest time is read */
	{ JOB_TIME, JOB_PUT, JOB_PUT },   /* a push carries the time */
};
const size_t job_nmerges = sizeof(job_merges) / sizeof(job_merges[0]);

int
jobrules_is_under(const char *p, size_t plen, const char *dir, size_t dlen)
{
	return plen >= dlen && memcmp(p, dir, dlen) == 0 &&
	    (plen == dlen || p[dlen] == '/');
}

size_t
jobrules_parent_len(const char *x, size_t len)
{
	while (len > 1 && x[len - 1] != '/')
		len--;
	if (len > 1)
		len--; /* drop the '/' */
	return len;
}

int
queue_paths_related(const char *a, const char *b)
{
	size_t alen = strlen(a), blen = strlen(b);

	return jobrules_is_under(a, alen, b, blen) ||
	    jobrules_is_under(b, blen, a, alen);
}

int
jobrules_near(const struct job_row *rows, size_t n, const char *user,
    int64_t op, const char *path, const char *arg)
{
	const char *mine[2] = { path, arg };
	int nm = jobrules_of(op)->arg_is_path && arg[0] != '\0' ? 2 : 1;

	for (size_t i = 0; i < n; i++) {
		const char *theirs[2] = { rows[i].path, rows[i].arg };
		int nt = jobrules_of(rows[i].op)->arg_is_path &&
		        rows[i].arg[0] != '\0' ?
		    2 :
		    1;

		if (strcmp(rows[i].user, user) != 0)
			continue;
		for (int x = 0; x < nm; x++)
			for (int y = 0; y < nt; y++)
				if (queue_paths_related(mine[x], theirs[y]))
					return 1;
	}
	return 0;
}

int
jobrules_walk_start(struct job_walk *w, const char *path)
{
	size_t n = strlen(path);

	w->alive = 1;
	w->cur[0] = '\0';
	if (n >= sizeof(w->cur))
		return -1;
	memcpy(w->cur, path, n + 1);
	return 0;
}

int
jobrules_walk_step(struct job_walk *w, int64_t op, const char *a, size_t alen,
    const char *b, size_t blen)
{
	const struct op_rule *r = jobrules_of(op);
	size_t clen = strlen(w->cur);

	if (!w->alive)
		return 0;
	if (r->moves && jobrules_is_under(w->cur, clen, a, alen)) {
		char moved[RFTP_PATH_MAX];

		if (blen + (clen - alen) >= sizeof(moved))
			return -1;
		memcpy(moved, b, blen);
		memcpy(moved + blen, w->cur + alen, clen - alen);
		moved[blen + clen - alen] = '\0';
		memcpy(w->cur, moved, blen + clen - alen + 1);
	} else if ((r->removes && jobrules_is_under(w->cur, clen, a, alen)) ||
	    (r->replaces_arg && blen > 0 &&
	        jobrules_is_under(w->cur, clen, b, blen))) {
		w->alive = 0;
	}
	return 0;
}
