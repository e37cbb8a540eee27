/*
 * casetwin.c - a target that ignores letter case (README: "A target that
 * ignores letter case").
 *
 * Owns: the names of a home that differ only in ASCII letter case, which
 * such a target (an SMB share, exFAT, NTFS behind its ftp, ftps or sftp
 * server) holds as one: which of them holds the name there, what the
 * worker logs when it learns the target's case, why a refused name can
 * never be placed there (a twin, or a character Windows refuses), and
 * what a delete or rename beside a twin does instead (the twin pushed
 * again to hold the name). Must not push a file or settle a put
 * (worker.c), decide which targets take a file (route.c) or speak a
 * protocol (transport.c); it reads the home under the user's change lock,
 * as the pushes do (a folder's names before it, and checked under it:
 * case_twin).
 */
#include "mirror/casetwin.h"

#include "common/fsgate.h"
#include "common/log.h"
#include "mirror/logpath.h"
#include "mirror/mirror_int.h"
#include "mirror/route.h"
#include "mirror/rpath.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* 1 if the queue says the target holds a copy pushed at path, or files
 * pushed below it. */
static int
holds_name(struct target_state *ts, const struct job *j, const char *path)
{
	return queue_pushed_at(ts->m->q, ts->t->name, j->user, path) == 1 ||
	    queue_pushed_below(ts->m->q, ts->t->name, j->user, path) == 1;
}

/* The names of a folder of the home equal to one leaf but for ASCII
 * letter case (few: an exFAT share holds one of them). */
struct twin_names {
	char **v;
	size_t n, cap;
};

static void
twin_names_free(struct twin_names *tn)
{
	for (size_t i = 0; i < tn->n; i++)
		free(tn->v[i]);
	free(tn->v);
	tn->v = NULL;
	tn->n = tn->cap = 0;
}

/* Reads d (from its start) for the names other than leaf equal to it but
 * for ASCII letter case into tn. 0, or -1 (out of memory). */
static int
read_twin_names(DIR *d, const char *leaf, struct twin_names *tn)
{
	struct dirent *de;

	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, leaf) == 0 ||
		    strcasecmp(de->d_name, leaf) != 0)
			continue;
		if (tn->n == tn->cap) {
			size_t cap = tn->cap > 0 ? 2 * tn->cap : 4;
			char **v = realloc(tn->v, cap * sizeof(*v));

			if (v == NULL)
				return -1;
			tn->v = v;
			tn->cap = cap;
		}
		tn->v[tn->n] = strdup(de->d_name);
		if (tn->v[tn->n] == NULL)
			return -1;
		tn->n++;
	}
	return 0;
}

/*
 * A target that ignores letter case (an SMB share, exFAT, NTFS behind its
 * server: transport_case_blind) holds one file for "A.txt" and "a.txt":
 * the second push replaced the first one's copy, and a delete of either
 * removed the other's. The home's names beside path that differ from its
 * last name only in ASCII letter case: the first one that holds the name
 * there goes to twin (a home path) and 1 is returned; 0 if none, -1 if
 * the home could not be read. Holds the name: its copy or files are
 * there (pushed); or, where path's are not, it is a folder (a file
 * cannot replace one) or sorts first (of two names none of which is
 * there yet, the first in byte order is pushed). all: any such name at all
 * that the target takes (for a delete, whose name may be the twin's).
 *
 * The folder is read without the user's change lock (a folder of 100,000
 * names took 30 ms to read, and every upload, MKD or DELE of the user's
 * sessions waited for it: 38 ms an upload against 7), then the few names
 * found are looked at under it. That tells what a read under the lock
 * would: readdir returns every name that stays in the folder while it
 * reads; of the names added or removed meanwhile it may return any, and
 * each such change a session makes counts in mirror_name_gen (under the
 * lock, at its begin and its end) for path's name in any letter case,
 * the only names this read looks for. The count unchanged, and the
 * folder read still the folder at that path (a rename of it or of a
 * folder above it counts for other names), no such name came or went
 * during the read; else the folder is read again under the lock. A name
 * returned but gone since is stat()ed away under the lock. Programs that
 * change the home outside the server take no lock, then as before.
 */
static int
case_twin(struct target_state *ts, const struct job *j, const char *path,
    int all, char *twin, size_t len)
{
	pthread_mutex_t *lk = mirror_user_lock(ts->m, j->user);
	const char *leaf = strrchr(path, '/');
	char folder[RFTP_PATH_MAX] = "/";
	struct twin_names tn = { NULL, 0, 0 };
	struct stat st;
	unsigned gen = mirror_name_gen(ts->m, j->user, path);
	int root, pfd = -1, found = 0, r = -1;
	DIR *d;

	if (leaf == NULL || leaf[1] == '\0')
		return 0;
	leaf++;
	if (leaf - path > 1 && rpath_parent(path, folder, sizeof(folder)) < 0)
		return 0;
	root = fs_open_root(j->home, 0);
	d = root >= 0 ? fs_opendir(root, folder) : NULL;
	if (d != NULL)
		r = read_twin_names(d, leaf, &tn);
	pthread_mutex_lock(lk);
	if (d != NULL &&
	    (r < 0 || mirror_name_gen(ts->m, j->user, path) != gen ||
	        fs_is_dir_at(root, folder, dirfd(d)) != 1)) {
		twin_names_free(&tn);
		closedir(d);
		d = fs_opendir(root, folder);
		r = d != NULL ? read_twin_names(d, leaf, &tn) : -1;
	}
	/* The folder at that path now (the read's may have moved away). */
	if (d != NULL && r == 0)
		pfd = fs_open(root, folder, O_PATH | O_DIRECTORY, 0);
	for (size_t i = 0; pfd >= 0 && found == 0 && i < tn.n; i++) {
		int n;

		/* Only a file or a folder can hold the name there: the
		 * mirror follows no link and pushes no other kind. */
		if (fs_leaf_stat(pfd, tn.v[i], &st) < 0 ||
		    !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
			continue;
		n = snprintf(twin, len, "%s/%s",
		    strcmp(folder, "/") == 0 ? "" : folder, tn.v[i]);
		if (n < 0 || (size_t)n >= len ||
		    !route_target_takes_name(ts->t, twin))
			continue;
		if (all || holds_name(ts, j, twin) ||
		    (!holds_name(ts, j, path) &&
		        (strcmp(tn.v[i], leaf) < 0 || S_ISDIR(st.st_mode))))
			found = 1;
	}
	pthread_mutex_unlock(lk);
	if (root >= 0 && (d == NULL || r < 0 || pfd < 0))
		found = -1;
	if (pfd >= 0)
		close(pfd);
	if (d != NULL)
		closedir(d);
	if (root >= 0)
		close(root);
	twin_names_free(&tn);
	return found;
}

/*
 * case_twin for path and for each folder on its way: where the home has
 * "/X/y" beside "/x/y", the two are one file on a target that ignores
 * case, as "/X" and "/x" are one folder there ("/x/y" replaced the copy
 * of "/X/y", and its delete removed it, found from outside). The twin
 * found (the whole path) goes to twin; holding the name as case_twin
 * says. 1, 0 if none, -1 if the home could not be read.
 */
int
casetwin_find(struct target_state *ts, const struct job *j, const char *path,
    int all, char *twin, size_t len)
{
	char level[RFTP_PATH_MAX], folder[RFTP_PATH_MAX];
	size_t n = strlen(path);
	int r = case_twin(ts, j, path, all, twin, len), k, there;

	for (size_t i = 1; r == 0 && i < n && n < sizeof(level); i++) {
		if (path[i] != '/')
			continue;
		memcpy(level, path, i);
		level[i] = '\0';
		if (case_twin(ts, j, level, 1, folder, sizeof(folder)) != 1)
			continue;
		k = snprintf(twin, len, "%s%s", folder, path + i);
		if (k < 0 || (size_t)k >= len)
			continue;
		pthread_mutex_lock(mirror_user_lock(ts->m, j->user));
		there = worker_home_name_state(j, twin) != NAME_GONE;
		pthread_mutex_unlock(mirror_user_lock(ts->m, j->user));
		if (there &&
		    (all || holds_name(ts, j, twin) ||
		        (!holds_name(ts, j, path) && strcmp(twin, path) < 0)))
			r = 1;
	}
	return r;
}

/*
 * Whether a push or a delete must look for names beside it that differ
 * only in letter case (casetwin_find): on a target known to ignore case,
 * or not known yet, whose first verify learns it. With verify = none
 * nothing learns it, and a readdir of each folder on the way at every
 * push would cost a folder of 100,000 names far more than the push: such a target is taken to tell cases
 * apart, as README says.
 */
int
casetwin_matters(struct target_state *ts)
{
	int blind = atomic_load(&ts->case_blind);

	return transport_kind_has_folders(ts->t) &&
	    (blind == 1 || (blind < 0 && ts->t->verify != VERIFY_NONE));
}

/* Keeps what tp learnt of the target's letter case for its other
 * workers (case_twin is asked only while it is not known to tell them
 * apart). */
void
casetwin_note(struct target_state *ts, const struct transport *tp)
{
	int blind = transport_case_blind(tp);

	if (blind >= 0 && atomic_exchange(&ts->case_blind, blind) != blind &&
	    blind == 1)
		log_warn("mirror target %s ignores letter case in names "
		         "(\"a.txt\" is \"A.txt\" there): of two names in a "
		         "home that differ only so, one is mirrored and the "
		         "log says which is not",
		    ts->t->name);
}

/*
 * What in name (one name, n bytes) a Windows-style file system (an SMB
 * share, exFAT, vfat, NTFS) refuses: one of \\ : * ? " < > |, or a
 * trailing dot or blank; into what (a short text). 1 if so, else 0.
 */
static int
windows_refuses(const char *name, size_t n, char *what, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (name[i] != '\0' && strchr("\\:*?\"<>|", name[i]) != NULL) {
			snprintf(what, len, "'%c'", name[i]);
			return 1;
		}
	}
	if (n == 0 || (name[n - 1] != '.' && name[n - 1] != ' '))
		return 0;
	snprintf(
	    what, len, "a trailing %s", name[n - 1] == '.' ? "dot" : "blank");
	return 1;
}

/*
 * The target refused path (a file's push, a folder's MKD) and ignores
 * letter case, as the file systems do that Windows uses: where path or a
 * folder on its way has a twin in the home (case_twin) that holds the
 * name there (a folder "X" where the target holds the file "x": its MKD
 * was refused at every retry, and eight refusals in a row paused the
 * whole target, found from outside), or holds a character such a file
 * system refuses (a ':' in a camera's time stamp: refused for ever,
 * "550 No such file or directory", which named no name), no retry can
 * place it. Made unsendable, saying which name and why. 1 if so (res),
 * else 0.
 */
int
casetwin_refused(struct target_state *ts, const struct job *j, const char *path,
    struct push_result *res, char *held, size_t heldlen)
{
	char level[RFTP_PATH_MAX], twin[RFTP_PATH_MAX], said[200], what[32];
	size_t n = strlen(path), start = 1;

	if (!res->file_refused || atomic_load(&ts->case_blind) != 1 ||
	    n >= sizeof(level))
		return 0;
	snprintf(said, sizeof(said), "%.150s", res->error);
	held[0] = '\0';
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		memcpy(level, path, i);
		level[i] = '\0';
		if (case_twin(ts, j, level, 0, twin, sizeof(twin)) == 1) {
			snprintf(held, heldlen, "%s", twin);
			snprintf(res->error, sizeof(res->error),
			    "the target does not tell %.120s from %.120s (it "
			    "ignores letter case), which holds that name "
			    "there: no retry can place it (%.120s)",
			    LOGPATH(j->user, level), LOGPATH(j->user, twin),
			    said);
		} else if (windows_refuses(
		               path + start, i - start, what, sizeof(what)))
			snprintf(res->error, sizeof(res->error),
			    "the name %.150s holds %s, which the target "
			    "refuses (it ignores letter case too: a "
			    "Windows-style file system, such as SMB, exFAT or "
			    "NTFS): no retry can place it (%.120s)",
			    LOGPATH(j->user, level), what, said);
		else {
			start = i + 1;
			continue;
		}
		res->file_refused = 0;
		res->unsendable = 1;
		return 1;
	}
	return 0;
}

/*
 * The name twin shares with j's path on a target that ignores case, or
 * may, is to hold twin's bytes (its holder deleted or renamed away in
 * the home): twin's push is queued again, or where twin is a folder
 * (folder: its MKD and its files' pushes were refused and dropped while
 * a file held the name) its MKD and its files'. 0, or -1 (res).
 */
int
casetwin_push_again(struct target_state *ts, const struct job *j,
    const char *twin, int folder, struct push_result *res)
{
	struct job_origin again = { j->flow, 0 };
	const char *name = ts->t->name;

	if (folder) {
		if (catchup_queue_folders(ts->m, ts->t, j, twin) > 0)
			mirror_wake_all(ts->m);
		catchup_request_rescan(ts->m, j->user);
		return 0;
	}
	if (queue_add(ts->m->q, &name, 1, JOB_PUT, j->user, j->home, twin, NULL,
	        &again) < 0) {
		snprintf(res->error, sizeof(res->error),
		    "cannot queue the push of %.400s in the queue", twin);
		return -1;
	}
	mirror_wake_all(ts->m);
	return 0;
}

/*
 * After j's rename moved its old name's copy away on a target that
 * ignores letter case: a twin of the old name in the home (its push
 * dropped while the old name held the name there) is pushed again, or
 * never arrived (found from outside: "A.txt" renamed to "c.txt" beside
 * "a.txt", and a.txt never reached the target, though README says a
 * rename of one of the two has both mirrored).
 */
void
casetwin_after_rename(struct target_state *ts, const struct job *j)
{
	char twin[RFTP_PATH_MAX];
	struct push_result tres;
	int blind = atomic_load(&ts->case_blind);

	/* Not the new name itself: a rename in letter case only ("a.txt"
	 * to "A.txt", "Dir" to "dir") moved the copy to it already. Where
	 * the target's case is not known yet (after a restart), a twin not
	 * on record there was dropped for the old name (the start-up walk
	 * no longer sends it again to learn the case: queue_twin_dropped),
	 * or never arrived: pushed too, its verify learns the case. */
	if (!transport_kind_has_folders(ts->t) || blind == 0 ||
	    (blind < 0 && !casetwin_matters(ts)) ||
	    casetwin_find(ts, j, j->path, 1, twin, sizeof(twin)) != 1 ||
	    strcmp(twin, j->arg) == 0 || (blind < 0 && holds_name(ts, j, twin)))
		return;
	memset(&tres, 0, sizeof(tres));
	if (casetwin_push_again(
	        ts, j, twin, worker_home_has_folder(ts, j, twin), &tres) < 0) {
		log_err("mirror rename target=%s path=%s: %s; the home is "
		        "scanned again",
		    ts->t->name, LOGPATH(j->user, j->path), tres.error);
		catchup_request_rescan(ts->m, j->user);
		return;
	}
	log_info("mirror rename target=%s path=%s: %s, the same name there, "
	         "is pushed again to hold it",
	    ts->t->name, LOGPATH(j->user, j->path), LOGPATH(j->user, twin));
}

/*
 * A delete of a name beside which the home keeps twin, the same name but
 * for letter case, on a target that ignores case or may: there the name
 * is twin's too, and deleting it removed the only copy of a file the home
 * still has (found from outside: "a.txt" deleted, "A.txt" gone from an
 * exFAT share). Where the target is known to ignore case the name stays;
 * where it is not known yet it is deleted (on a target that tells the
 * cases apart it is the deleted file's alone). Either way twin is pushed
 * again, so that the name holds twin's bytes. A folder twin cannot have
 * held the name: the name is deleted and the folder made. 0, or -1
 * (res).
 */
int
casetwin_delete(struct target_state *ts, struct transport *tp,
    const struct job *j, const char *rpath, const char *twin,
    struct push_result *res)
{
	const char *name = ts->t->name;
	int blind = atomic_load(&ts->case_blind) == 1;
	int folder = worker_home_has_folder(ts, j, twin);

	/* A folder: the name held the deleted file's copy there (no
	 * folder could be made by it): deleted, the folder and its files
	 * take it. */
	if ((folder || !blind) && transport_delete(tp, rpath, res) < 0)
		return -1;
	if (casetwin_push_again(ts, j, twin, folder, res) < 0)
		return -1;
	if (folder)
		log_info("mirror delete target=%s path=%s attempts=%lld (%s, "
		         "the same name there, is made again)",
		    name, LOGPATH(j->user, j->path),
		    (long long)(j->attempts + 1), LOGPATH(j->user, twin));
	else
		log_warn("mirror delete target=%s path=%s: %s; %s is pushed "
		         "again to hold the name",
		    name, LOGPATH(j->user, j->path),
		    blind ? "not deleted: the target does not tell it from "
		            "the home's other name (it ignores letter case)" :
		            "deleted, beside a name in the home that differs "
		            "only in letter case (the target may ignore case)",
		    LOGPATH(j->user, twin));
	if (worker_move_pushed(ts, j, j->path, NULL, "delete") == 0)
		queue_forget(ts->m->q, j);
	return 0;
}

/* A folder renamed beside its twin (casetwin_rename_folder): the folders
 * the old name left on the target, to be removed once emptied. */
struct old_copies {
	const struct job *j;
	size_t cut;     /* strlen(j->arg): where a path's tail starts */
	char **folders; /* old names, deduplicated */
	size_t nfolders, cap;
	int failed;
};

/* Adds the folder old (n bytes) to o's, once. */
static void
add_old_folder(struct old_copies *o, const char *old, size_t n)
{
	for (size_t i = 0; i < o->nfolders; i++)
		if (strlen(o->folders[i]) == n &&
		    memcmp(o->folders[i], old, n) == 0)
			return;
	if (o->nfolders == o->cap) {
		size_t cap = o->cap > 0 ? 2 * o->cap : 16;
		char **v = realloc(o->folders, cap * sizeof(*v));

		if (v == NULL) {
			o->failed = 1;
			return;
		}
		o->folders = v;
		o->cap = cap;
	}
	o->folders[o->nfolders] = strndup(old, n);
	if (o->folders[o->nfolders] == NULL) {
		o->failed = 1;
		return;
	}
	o->nfolders++;
}

/* fs_walk of the new name: each folder's old name ("/y/d" as "/x/d") is
 * noted (one the target has holds no file pushed to it, or it would come
 * from the queue's record too). */
static int
note_old_folder(void *ctx, const char *vpath, const struct stat *st)
{
	struct old_copies *o = ctx;
	char old[RFTP_PATH_MAX];
	int n;

	if (!S_ISDIR(st->st_mode))
		return 0;
	n = snprintf(old, sizeof(old), "%s%s", o->j->path, vpath + o->cut);
	if (n < 0 || (size_t)n >= sizeof(old))
		return 0; /* never pushed: no room for its old name */
	/* The old name itself is removed last, apart. */
	if ((size_t)n > strlen(o->j->path))
		add_old_folder(o, old, (size_t)n);
	return o->failed;
}

/* Deepest first: a folder's name is longer than those above it. */
static int
cmp_deeper_first(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);

	return la < lb ? 1 : la > lb ? -1 : 0;
}

/*
 * The old name's files there are the ones the queue says were pushed
 * below it, not what the home's new folder holds when the job runs:
 * a file deleted or renamed out of it since (its own job then finds
 * nothing under the new name) kept its copy there, inside the twin's
 * folder, for good. Their folders are removed too, with the new
 * folder's in old names (made there, holding no file pushed).
 */
int
casetwin_rename_folder(struct target_state *ts, const struct job *j,
    const char *twin, struct push_result *res)
{
	struct old_copies o = { j, strlen(j->arg), NULL, 0, 0, 0 };
	struct job_origin from = { j->flow, 0 };
	const char *name = ts->t->name;
	int root = fs_open_root(j->home, 0);
	int blind = atomic_load(&ts->case_blind) == 1;
	size_t n = strlen(j->path);
	struct buf pushed;
	int files;

	if (root < 0) {
		snprintf(res->error, sizeof(res->error),
		    "cannot open the home to read the folder %.300s",
		    LOGPATH(j->user, j->arg));
		return -1;
	}
	fs_walk(root, j->arg, FS_WALK_FOLDERS, note_old_folder, &o);
	close(root);
	buf_init(&pushed, (size_t)1 << 28);
	files =
	    queue_pushed_paths_below(ts->m->q, name, j->user, j->path, &pushed);
	if (files < 0)
		o.failed = 1;
	for (const char *p = pushed.data; !o.failed && files-- > 0;
	     p += strlen(p) + 1) {
		/* Its copy deleted there (a job of its own, with the
		 * twin rules of a delete), its folders noted. */
		if (queue_add(ts->m->q, &name, 1, JOB_DELETE, j->user, j->home,
		        p, NULL, &from) < 0)
			o.failed = 1;
		for (const char *s = strrchr(p, '/');
		     !o.failed && s != NULL && (size_t)(s - p) > n;
		     s = memrchr(p, '/', (size_t)(s - p)))
			add_old_folder(&o, p, (size_t)(s - p));
	}
	buf_free(&pushed);
	/* Deepest first, after the deletes: each folder empty by then (a
	 * job waits for the earlier ones of related paths). The old name
	 * itself last: kept there beside its twin (push_path_op). */
	/* None noted: o.folders is NULL, which qsort must not be given
	 * (UBSan stopped the daemon here in test-asan). */
	if (!o.failed && o.nfolders > 1)
		qsort(o.folders, o.nfolders, sizeof(*o.folders),
		    cmp_deeper_first);
	for (size_t i = 0; !o.failed && i < o.nfolders; i++)
		if (queue_add(ts->m->q, &name, 1, JOB_RMDIR, j->user, j->home,
		        o.folders[i], NULL, &from) < 0)
			o.failed = 1;
	if (!o.failed &&
	    queue_add(ts->m->q, &name, 1, JOB_RMDIR, j->user, j->home, j->path,
	        NULL, &from) < 0)
		o.failed = 1;
	for (size_t i = 0; i < o.nfolders; i++)
		free(o.folders[i]);
	free(o.folders);
	if (o.failed) {
		snprintf(res->error, sizeof(res->error),
		    "cannot queue the removal of %.300s's copies in the queue",
		    LOGPATH(j->user, j->path));
		return -1;
	}
	/* The new name made with its folders; its files come with the
	 * rescan (none of them is on record there). */
	if (catchup_queue_folders(ts->m, ts->t, j, j->arg) < 0) {
		snprintf(res->error, sizeof(res->error),
		    "cannot open the home to read the folder %.300s",
		    LOGPATH(j->user, j->arg));
		return -1;
	}
	catchup_request_rescan(ts->m, j->user);
	mirror_wake_all(ts->m);
	log_info("mirror rename target=%s path=%s to=%s: beside %s, which "
	         "the target %s from one of them (it %s letter case): the "
	         "new folder is made and pushed instead, the old name's "
	         "copies deleted there",
	    name, LOGPATH(j->user, j->path), LOGPATH(j->user, j->arg),
	    LOGPATH(j->user, twin), blind ? "does not tell" : "may not tell",
	    blind ? "ignores" : "may ignore");
	queue_forget(ts->m->q, j);
	return 0;
}
