/*
 * route.c - see route.h.
 *
 * Owns the answers to "does this target get this file, and under which
 * name". Must not touch threads, the queue, the network or the disk: the
 * worker, the sink and the catch-up ask it, and its unit tests call it
 * with hostile names and globs alone.
 */
#include "mirror/route.h"

#include "common/numparse.h"
#include "mirror/rpath.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

int
route_matches_any(const char *globs, const char *path)
{
	/* As long as the config's glob lists: no pattern of one is cut. */
	char pat[sizeof(((struct target_config *)0)->include)];
	const char *cur = globs, *slash = strrchr(path, '/');
	const char *leaf = slash != NULL ? slash + 1 : path;

	while (parse_list_next(&cur, pat, sizeof(pat)) == 1)
		if (fnmatch(pat, path, 0) == 0 || fnmatch(pat, leaf, 0) == 0)
			return 1;
	return 0;
}

int
route_user_wants(const char *list, const char *name)
{
	char item[RFTP_NAME_MAX + 1];
	const char *cur = list;

	if (list[0] == '\0')
		return 1; /* no mirror key: every target */
	while (parse_list_next(&cur, item, sizeof(item)) == 1)
		if (strcmp(item, name) == 0)
			return 1;
	return 0;
}

/* 1 if path's last name has the form of the mirror's temporary names
 * (rpath.h: the prefix, a job number, possibly negative, and a dot),
 * which no target takes: a file of the home so named (a client's, or a
 * copy another relay is sending here before its rename) would meet on the
 * target a push's temporary copy of the same name, which overwrites it and
 * renames it away. */
static int
is_tmp_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *p = slash != NULL ? slash + 1 : path;
	size_t digits;

	if (strncmp(p, RFTP_TMP_PREFIX, strlen(RFTP_TMP_PREFIX)) != 0)
		return 0;
	p += strlen(RFTP_TMP_PREFIX);
	if (*p == '-')
		p++;
	digits = strspn(p, "0123456789");
	return digits > 0 && p[digits] == '.';
}

int
route_target_takes_name(const struct target_config *t, const char *path)
{
	if (is_tmp_name(path))
		return 0;
	if (t->include[0] != '\0' && !route_matches_any(t->include, path))
		return 0;
	if (t->exclude[0] != '\0' && route_matches_any(t->exclude, path))
		return 0;
	return 1;
}

int
route_target_takes(
    const struct target_config *t, const char *mirror_list, const char *path)
{
	return route_user_wants(mirror_list, t->name) &&
	    route_target_takes_name(t, path);
}

int
route_remote_path(const struct target_config *t, const char *user,
    const char *path, char *out, size_t outlen)
{
	int n;

	if (t->flat)
		n = snprintf(out, outlen, "%s", path);
	else
		n = snprintf(out, outlen, "/%s%s", user, path);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

const char *
route_put_path(const struct upload_event *ev)
{
	return ev->op == CHANGE_RENAME ? ev->new_path : ev->path;
}

/* What one target does with ev: nothing, the change itself, or a put. */
static void
plan_target(const struct target_config *t, const struct upload_event *ev,
    struct route_plan *p)
{
	int takes = route_target_takes(t, ev->mirror, ev->path);

	switch (ev->op) {
	case CHANGE_PUT:
		if (takes)
			p->put[p->nput++] = t->name;
		break;
	case CHANGE_DELETE:
		p->op = JOB_DELETE;
		if (t->propagate_deletes && takes)
			p->other[p->nother++] = t->name;
		break;
	case CHANGE_RENAME:
		p->op = JOB_RENAME;
		/* Renamed to a name the target does not take (excluded, or
		 * shaped like the mirror's temporary names), a file leaves
		 * what is mirrored there, as a delete would: the target's
		 * worker deletes the old name if deletes propagate and keeps
		 * it if not, and never gives the target the new name (it
		 * did, with propagate_renames: an excluded name arrived).
		 * A folder so renamed still holds mirrored files: the
		 * worker renames it as before (worker.c push_rename). */
		if (takes && !route_target_takes(t, ev->mirror, ev->new_path)) {
			if (t->propagate_renames || t->propagate_deletes)
				p->other[p->nother++] = t->name;
			break;
		}
		/* Between two names the target does not take: a file so
		 * named was never there, but a folder may be (made there by
		 * what it holds: "d.tmp/k"), and it moves where renames
		 * propagate; its worker tells the two apart. */
		if (!takes && t->propagate_renames &&
		    route_user_wants(ev->mirror, t->name) &&
		    !route_target_takes(t, ev->mirror, ev->new_path)) {
			p->other[p->nother++] = t->name;
			break;
		}
		/* Without propagation the target still gets the file under
		 * its new name; the old one stays. From a name the target
		 * does not take, a rename too where renames propagate: a
		 * folder so named is on the target (its files are mirrored,
		 * and it was renamed there), and its worker pushes a file
		 * instead if the target holds nothing under the old name. */
		if (!route_target_takes(t, ev->mirror, ev->new_path))
			break;
		if (t->propagate_renames)
			p->other[p->nother++] = t->name;
		else
			p->put[p->nput++] = t->name;
		break;
	case CHANGE_MKDIR:
		/* A folder is made where its files would go. */
		p->op = JOB_MKDIR;
		if (takes)
			p->other[p->nother++] = t->name;
		break;
	case CHANGE_RMDIR:
		/* Whatever its name: a folder the target does not take is
		 * still made there by the pushes of the files it holds (or
		 * by a rename), and left behind empty once they are gone.
		 * RMD removes only an empty folder, and one the target does
		 * not have is no error (ftpcmds.c ftpc_rmdir). */
		p->op = JOB_RMDIR;
		if (t->propagate_deletes &&
		    route_user_wants(ev->mirror, t->name))
			p->other[p->nother++] = t->name;
		break;
	case CHANGE_TIME:
		/* Like a put, recorded once it happened: a lost time is
		 * found again by the catch-up's (size, time). */
		p->put_op = JOB_TIME;
		if (takes)
			p->put[p->nput++] = t->name;
		break;
	}
}

void
route_plan(const struct target_config *targets, unsigned ntargets,
    const struct upload_event *ev, struct route_plan *p)
{
	p->nother = p->nput = 0;
	p->op = JOB_PUT;
	p->put_op = JOB_PUT;
	if (ntargets > RFTP_TARGETS_MAX)
		ntargets = RFTP_TARGETS_MAX;
	for (unsigned i = 0; i < ntargets; i++)
		plan_target(&targets[i], ev, p);
}
