/*
 * upload.c - see upload.h.
 *
 * Locking: flock(LOCK_EX|LOCK_NB) on the partial, opened read-only. After
 * taking the lock we check that the name still leads to the locked inode,
 * because the previous writer may have just renamed it into place; writing
 * to that inode would change a published file. The bytes go through a
 * second descriptor, opened for writing, which is closed before the
 * rename while the read-only one keeps the lock until the name is final:
 * so the close of what was written is seen (inotify's IN_CLOSE_WRITE)
 * under the partial's name, which the mirror's watcher ignores, and never
 * under the final name. Closed after the rename, it looked like another
 * program's write to the published file; the watcher looked at every
 * upload again, and skipping that close by its name could not work, since
 * inotify merges it with a program's close of the same file that
 * follows before it is read.
 *
 * Quota: a partial counts one entry from just before its creation (the
 * entry is reserved first, as MKD does) and its bytes as they are
 * written (transfer.c charges them, with the size of the file it will
 * replace as credit). The credit is only a forecast: another session
 * may delete or replace that file meanwhile. So publishing looks at what the
 * name holds at the moment of the rename, under the account's names lock,
 * refuses the rename if the credit did not come true and the home would end
 * over quota, and releases only what the rename really replaced.
 */
#include "server/upload.h"

#include "common/limits.h"
#include "common/fsgate.h"
#include "common/pathnorm.h"
#include "server/quota.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_TRIES 3

/* The partial's two descriptors, closed (not the folder's). */
static void
up_close_fds(struct upload *up)
{
	if (up->fd >= 0)
		close(up->fd);
	if (up->lock_fd >= 0)
		close(up->lock_fd);
	up->fd = -1;
	up->lock_fd = -1;
}

/* Empty, every descriptor -1 (what up_close expects). */
static void
up_init(struct upload *up)
{
	memset(up, 0, sizeof(*up));
	up->fd = -1;
	up->lock_fd = -1;
	up->parent_fd = -1;
	up->orig_fd = -1;
}

static void
up_close(struct upload *up)
{
	up_close_fds(up);
	if (up->orig_fd >= 0)
		close(up->orig_fd);
	up->orig_fd = -1;
	if (up->parent_fd >= 0)
		close(up->parent_fd);
	up->parent_fd = -1;
}

/* The entry of the partial to be made, counted: 1 if it fits (or there
 * is no account), else 0. A replace's (within quota_files + 1, or a loan
 * past it: account_add_replace) is ended by end_replace. */
static int
reserve_entry(const struct upload_home *h, struct upload *up)
{
	int rc;

	if (h->account == NULL)
		return 1;
	if (up->credit_entries == 0)
		return account_add_file(h->account, 0) == 0;
	rc = account_add_replace(h->account);
	up->replacing = rc >= 0;
	return rc >= 0;
}

/* The partial of a replace's entry is gone, or was never ours. */
static void
end_replace(const struct upload_home *h, struct upload *up)
{
	if (up->replacing && h->account != NULL)
		account_replace_end(h->account);
	up->replacing = 0;
}

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev;
}

/* 1 if the partial's name still leads to the file fd holds. */
static int
name_holds(const struct upload *up, int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 &&
	    fs_leaf_stat(up->parent_fd, up->partial, &b) == 0 &&
	    same_file(&a, &b) && S_ISREG(a.st_mode);
}

/*
 * Opens (creating if needed) and locks the partial: up->fd for writing,
 * up->lock_fd read-only with the lock, both the file the name leads to.
 * Where the name gives no read-only descriptor (a umask that takes the
 * owner's read), lock_fd stays -1 and the lock is on fd, which is then
 * closed after the rename as it always was (the watcher looks at that
 * upload once more). absent: the caller just found no partial (the first
 * try creates it at once). may_create 0: only an existing partial is
 * opened (ENOENT if there is none). Returns 1 if this call created it, 0
 * if it existed, with *st the file's, locked; -1 (errno; EWOULDBLOCK =
 * another writer); a partial this call created and could not lock is
 * removed.
 */
static int
open_partial(struct upload *up, int absent, int may_create, struct stat *st)
{
	for (int i = 0; i < LOCK_TRIES; i++) {
		struct stat b, c;
		int created = 0, e;

		if (i == 0 && absent) {
			up->fd = -1;
			errno = ENOENT;
		} else
			up->fd =
			    fs_leaf_open(up->parent_fd, up->partial, O_RDWR, 0);
		if (up->fd < 0 && errno == ENOENT && may_create) {
			up->fd = fs_leaf_open(up->parent_fd, up->partial,
			    O_RDWR | O_CREAT | O_EXCL, 0666);
			created = 1;
			if (up->fd < 0 && errno == EEXIST)
				continue;
		}
		if (up->fd < 0)
			return -1;
		/* O_NONBLOCK: a FIFO planted under the name must not hang
		 * the session (O_RDWR never blocks on one). */
		up->lock_fd = fs_leaf_open(
		    up->parent_fd, up->partial, O_RDONLY | O_NONBLOCK, 0);
		if (up->lock_fd < 0 && errno == ENOENT) {
			up_close_fds(up); /* renamed away meanwhile */
			continue;
		}
		e = errno;
		if ((up->lock_fd >= 0 || e == EACCES) &&
		    flock(up->lock_fd >= 0 ? up->lock_fd : up->fd,
		        LOCK_EX | LOCK_NB) == 0) {
			if (fstat(up->fd, st) == 0 &&
			    fs_leaf_stat(up->parent_fd, up->partial, &b) == 0 &&
			    same_file(st, &b) && S_ISREG(st->st_mode) &&
			    (up->lock_fd < 0 ||
			        (fstat(up->lock_fd, &c) == 0 &&
			            same_file(st, &c))))
				return created;
			/* Renamed into place meanwhile: a new one is needed. */
			up_close_fds(up);
			continue;
		}
		if (up->lock_fd >= 0 || e == EACCES)
			e = errno; /* flock's */
		/* Made by this call and not locked by another (no read-only
		 * descriptor: out of descriptors, say): not left behind
		 * without its entry in the quota. */
		if (created && e != EWOULDBLOCK && name_holds(up, up->fd))
			fs_leaf_unlink(up->parent_fd, up->partial);
		up_close_fds(up);
		errno = e;
		return -1;
	}
	errno = EWOULDBLOCK;
	return -1;
}

/*
 * The published file fst describes, opened read only into up->orig_fd
 * (once) through the folder the upload checked it in: the bytes an append
 * copies are that file's, whatever a rename put at the path meanwhile
 * (ESTALE: another file is there now). 0 or -1.
 */
static int
open_orig(struct upload *up, const struct stat *fst)
{
	struct stat st;

	if (up->orig_fd >= 0)
		return 0;
	up->orig_fd = fs_leaf_open(up->parent_fd, up->leaf, O_RDONLY, 0);
	if (up->orig_fd < 0)
		return -1;
	if (fstat(up->orig_fd, &st) < 0 || !same_file(&st, fst)) {
		close(up->orig_fd);
		up->orig_fd = -1;
		errno = ESTALE;
		return -1;
	}
	up->orig_size = (uint64_t)st.st_size;
	up->orig_mtime = st.st_mtim;
	return 0;
}

/* Copies the first n bytes of the published file (up->orig_fd) into the
 * fresh partial. */
static int
seed_from_final(struct upload *up, uint64_t n)
{
	int src = up->orig_fd;
	off_t in = 0, out = 0;

	while ((uint64_t)in < n) {
		ssize_t c = copy_file_range(
		    src, &in, up->fd, &out, (size_t)(n - (uint64_t)in), 0);

		if (c <= 0) {
			char block[65536];
			ssize_t r;

			if (c == 0)
				break;
			if (errno != EXDEV && errno != EINVAL &&
			    errno != ENOSYS && errno != EOPNOTSUPP)
				goto fail;
			/* Another filesystem: plain copy. */
			r = pread(src, block,
			    n - (uint64_t)in < sizeof(block) ?
			        (size_t)(n - (uint64_t)in) :
			        sizeof(block),
			    in);
			if (r <= 0 ||
			    pwrite(up->fd, block, (size_t)r, out) != r)
				goto fail;
			in += r;
			out += r;
		}
	}
	return (uint64_t)in == n ? 0 : -1;
fail:
	return -1;
}

/* STOU: vpath gets a random suffix; the name must stay within NAME_MAX
 * (a long name's partial is hashed, fsgate.c). A name that does not fit
 * is an error, never cut. UPLOAD_OK, UPLOAD_ERR_UNIQUE, or
 * UPLOAD_ERR_RESERVED: "STOU .rftpd-partial" would make a name the server
 * keeps for partials (the argument alone is not one: it lacks the dot
 * the suffix brings), a file no client could reach and that the server
 * would take for the interrupted upload of another name. */
static enum upload_err
stou_name(char *vpath)
{
	unsigned char rnd[4];
	char *leaf = strrchr(vpath, '/');
	size_t room;
	int n;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return UPLOAD_ERR_UNIQUE;
	room = RFTP_PATH_MAX - strlen(vpath);
	n = snprintf(vpath + strlen(vpath), room, ".%02x%02x%02x%02x", rnd[0],
	    rnd[1], rnd[2], rnd[3]);
	if (n < 0 || (size_t)n >= room || strlen(leaf + 1) > NAME_MAX)
		return UPLOAD_ERR_UNIQUE;
	if (path_is_partial_name(leaf + 1))
		return UPLOAD_ERR_RESERVED;
	return UPLOAD_OK;
}

/* The partial existed: an earlier upload of this name was interrupted.
 * The resume rule (README): STOR without REST starts over, REST at most
 * the bytes received cuts them back to it and continues (wput resends the
 * last 512 bytes or more, which vsftpd writes over the old ones), REST
 * past them is refused (a hole), APPE continues them, but only where no
 * file is published under the name (replacing): SIZE answers that file's
 * size (what RETR sends), so curl -C - would APPE the rest of its file
 * from there onto bytes that end elsewhere. */
static enum upload_err
resume_partial(const struct upload_home *h, enum upload_mode mode,
    uint64_t rest, int replacing, struct upload *up, uint64_t *base)
{
	if (mode == UP_APPE && replacing) {
		up->have = *base;
		return UPLOAD_ERR_APPE_PENDING;
	}
	/* APPE writes at the end: a REST elsewhere asked for another
	 * place (it was ignored, and one past the end answered 226). */
	if (mode == UP_APPE && rest > 0 && rest != *base) {
		up->have = *base;
		return UPLOAD_ERR_APPE_REST;
	}
	if (mode == UP_STOR && rest < *base) {
		if (ftruncate(up->fd, (off_t)rest) < 0) {
			up->err = errno;
			return UPLOAD_ERR_RESTART;
		}
		if (h->account != NULL)
			account_sub(h->account, *base - rest, 0);
		*base = rest;
	} else if (mode == UP_STOR && rest > *base) {
		up->have = *base;
		return UPLOAD_ERR_REST_MISMATCH;
	}
	return UPLOAD_OK;
}

/* The partial is new: APPE and REST+STOR start from the published file's
 * first bytes, copied in. */
static enum upload_err
seed_partial(const struct upload_home *h, enum upload_mode mode, uint64_t rest,
    const struct stat *fst, struct upload *up, uint64_t *base)
{
	uint64_t seed = 0, stored = fst != NULL ? (uint64_t)fst->st_size : 0;

	if (mode == UP_APPE && rest > 0 && rest != stored) {
		up->have = stored; /* as resume_partial */
		return UPLOAD_ERR_APPE_REST;
	}
	if (mode == UP_APPE && fst != NULL)
		seed = stored;
	else if (mode == UP_STOR && rest > 0) {
		if (fst == NULL || rest > stored) {
			up->have = stored;
			return UPLOAD_ERR_REST_BEYOND;
		}
		seed = rest;
	}
	if (seed > 0) {
		if (h->account != NULL &&
		    account_add_bytes(h->account, seed, up->credit) < 0)
			return UPLOAD_ERR_QUOTA;
		if (open_orig(up, fst) < 0 || seed_from_final(up, seed) < 0) {
			struct stat cst;
			uint64_t copied = 0;

			up->err = errno;
			/* The removal that follows returns what the partial
			 * holds: here only the rest of the seed. */
			if (fstat(up->fd, &cst) == 0)
				copied = (uint64_t)cst.st_size < seed ?
				    (uint64_t)cst.st_size :
				    seed;
			if (h->account != NULL) {
				account_sub(h->account, seed - copied, 0);
				account_written(h->account, seed);
			}
			return UPLOAD_ERR_APPEND;
		}
		if (h->account != NULL)
			account_written(h->account, seed);
	}
	*base = seed;
	return UPLOAD_OK;
}

enum upload_err
upload_begin(const struct upload_home *h, char *vpath, enum upload_mode mode,
    uint64_t rest, struct upload *up)
{
	const char *leaf;
	struct stat fst, pst;
	struct folder_mark mark;
	int final_exists, created, n, absent, reserved, appends = 0;
	uint64_t base = 0, cap;
	enum upload_err e;

	up_init(up);
	if (mode == UP_STOU && (e = stou_name(vpath)) != UPLOAD_OK)
		return e;
	up->parent_fd = fs_open_parent(h->root_fd, vpath, &leaf);
	if (up->parent_fd < 0) {
		up->err = errno;
		return UPLOAD_ERR_CREATE;
	}
	n = snprintf(up->leaf, sizeof(up->leaf), "%s", leaf);
	if (n < 0 || (size_t)n >= sizeof(up->leaf))
		errno = ENAMETOOLONG;
	if (n < 0 || (size_t)n >= sizeof(up->leaf) ||
	    fs_partial_leaf(leaf, up->partial, sizeof(up->partial)) < 0) {
		up->err = errno;
		e = UPLOAD_ERR_CREATE;
		goto fail;
	}
	final_exists = fs_leaf_stat(up->parent_fd, leaf, &fst) == 0;
	if (final_exists && S_ISDIR(fst.st_mode)) {
		e = UPLOAD_ERR_IS_DIR;
		goto fail;
	}
	if (final_exists && !S_ISREG(fst.st_mode))
		fst.st_size = 0;
	/* A STOR over what is there removes it (REST N + STOR keeps N
	 * bytes), and so does an APPE over what is not a file (a link or a
	 * FIFO another program made): the delete permission's, unless it
	 * only adds bytes at a file's end, which is the append
	 * permission's. */
	if (final_exists && mode != UP_STOU) {
		appends = S_ISREG(fst.st_mode) &&
		    (mode == UP_APPE ||
		        (rest > 0 && rest == (uint64_t)fst.st_size));
		if (appends ? !h->may_append : !h->may_replace) {
			e = appends ? UPLOAD_ERR_NEEDS_APPEND :
			              UPLOAD_ERR_NEEDS_DELETE;
			goto fail;
		}
		/* The file it may replace, held from now on (open_orig). */
		if (!h->may_replace && open_orig(up, &fst) < 0) {
			up->err = errno;
			e = UPLOAD_ERR_APPEND;
			goto fail;
		}
	}
	if (h->account != NULL &&
	    account_known(h->account, up->why, sizeof(up->why)) < 0) {
		e = UPLOAD_ERR_UNCOUNTED;
		goto fail;
	}
	/* The replaced file stays counted until the rename releases it. */
	up->credit =
	    final_exists && S_ISREG(fst.st_mode) ? (uint64_t)fst.st_size : 0;
	up->credit_entries = final_exists && S_ISREG(fst.st_mode);
	up->lent_entry = final_exists && !S_ISREG(fst.st_mode);
	/* A partial to be made is a name more in its folder: a new name's
	 * must fit under the cap; a replace's may pass it by one, as a
	 * replace may pass quota_files by one entry (the name it replaces
	 * goes at the rename), and no more whatever the sessions. Unchecked,
	 * each concurrent replace in a full folder put one more name there
	 * (found from outside: 10 names under a cap of 8). The check and
	 * the partial's creation are one step for this user. */
	account_names_lock(h->account);
	n = fs_leaf_stat(up->parent_fd, up->partial, &pst) < 0;
	absent = n && errno == ENOENT;
	cap = h->max_entries_per_folder;
	if (cap > 0 && final_exists)
		cap++; /* fitting_size lends the same */
	if (n &&
	    quota_folder_has_room(h->account, up->parent_fd, cap, &mark) < 0) {
		created = -1;
		up->err = errno;
	} else {
		if (!n) /* a resume: no room needed */
			quota_folder_mark(h->account, up->parent_fd, &mark);
		/* The entry a new partial takes is reserved before it is
		 * made, as MKD does: made first and refused after, each
		 * refused upload in a home at quota_files put one entry
		 * past it on disk (and two with a replace's loan; found
		 * from outside). Without room only a partial that is
		 * already there (and counted) may be opened: a resume. */
		reserved = reserve_entry(h, up);
		if (!reserved && absent) {
			created = -2;
		} else {
			created = open_partial(up, absent, reserved, &pst);
			if (created < 0 && !reserved && errno == ENOENT)
				created = -2;
		}
		up->err = errno;
		/* Reserved for nothing: the partial was there already. */
		if (reserved && created <= 0 && h->account != NULL) {
			account_sub(h->account, 0, 1);
			end_replace(h, up);
		}
	}
	if (created > 0)
		quota_folder_changed(h->account, up->parent_fd, &mark, 1);
	account_names_unlock(h->account);
	if (created == -2) {
		up->err = 0;
		e = UPLOAD_ERR_FILES;
		goto fail;
	}
	if (created < 0) {
		e = up->err == EDQUOT      ? UPLOAD_ERR_FOLDER :
		    up->err == EWOULDBLOCK ? UPLOAD_ERR_BUSY :
		                             UPLOAD_ERR_CREATE;
		goto fail;
	}
	up->err = 0;
	/* Without delete, an append is of the file itself: a partial from
	 * before (an upload of the name interrupted before another file was
	 * renamed onto it) is not that file's copy, and only a replace
	 * could publish it. An append drops it (it would stay for good and
	 * hold back every append) and starts afresh from the file. */
	if (!created && final_exists && !h->may_replace) {
		if (!appends) {
			e = UPLOAD_ERR_NEEDS_DELETE;
			goto fail_keep;
		}
		if (ftruncate(up->fd, 0) < 0) {
			up->err = errno;
			e = UPLOAD_ERR_RESTART;
			goto fail_keep;
		}
		if (h->account != NULL)
			account_sub(h->account, (uint64_t)pst.st_size, 0);
		up->dropped = (uint64_t)pst.st_size;
		created = 1;
	}
	up->resumed = !created;
	if (!created) {
		base = (uint64_t)pst.st_size;
		e = resume_partial(h, mode, rest,
		    final_exists && S_ISREG(fst.st_mode), up, &base);
		if (e != UPLOAD_OK)
			goto fail_keep;
	} else {
		e = seed_partial(
		    h, mode, rest, final_exists ? &fst : NULL, up, &base);
		if (e != UPLOAD_OK)
			goto fail_remove;
	}
	/* A partial made just now is empty and at 0 unless seeded. */
	if ((!created || base > 0) &&
	    lseek(up->fd, (off_t)base, SEEK_SET) < 0) {
		up->err = errno;
		e = UPLOAD_ERR_SEEK;
		goto fail_keep;
	}
	up->offset = base;
	return UPLOAD_OK;
fail_remove:
	upload_abandon(h, up, 0);
	errno = up->err;
	return e;
fail_keep:
	/* Untouched: this upload wrote nothing into the partial. */
	up_close(up);
	errno = up->err;
	return e;
fail:
	up_close(up);
	errno = up->err;
	return e;
}

/* 0 if vpath's folder, looked up again through the gate with no symlink
 * on the way, is still the folder dirfd holds; 1 if not, or if that
 * cannot be told. */
static int
folder_moved(int root, int dirfd, const char *vpath)
{
	char parent[RFTP_PATH_MAX];
	const char *slash = strrchr(vpath, '/');
	size_t n;

	if (slash == NULL)
		return 1;
	n = slash == vpath ? 1 : (size_t)(slash - vpath);
	if (n >= sizeof(parent))
		return 1;
	memcpy(parent, vpath, n);
	parent[n] = '\0';
	return !fs_is_dir_at(root, parent, dirfd);
}

int
upload_commit(
    const struct upload_home *h, struct upload *up, int noreplace, char *vpath)
{
	char dir[RFTP_PATH_MAX];
	struct stat old, part;
	struct publish pub;
	struct folder_mark mark;
	uint64_t rbytes = 0, rentries = 0;
	int rc = -1, err, existed;

	if (h->fsync && fsync(up->fd) < 0) {
		up->unsynced = 1;
		return -1;
	}
	if (fstat(up->fd, &part) < 0)
		return -1;
	/* Closed under the partial's name (top of file); the lock stays with
	 * lock_fd. A failed close is a failed write (NFS says so there).
	 * Without lock_fd the lock is fd's: closed after the rename. */
	if (up->lock_fd >= 0) {
		rc = close(up->fd);
		up->fd = -1;
		if (rc < 0)
			return -1;
		rc = -1;
	}
	/* What is replaced is what the name holds now, looked at under the
	 * names lock: a DELE or another upload of this user cannot change
	 * it before the rename. */
	account_names_lock(h->account);
	quota_folder_mark(h->account, up->parent_fd, &mark);
	existed = fs_leaf_stat(up->parent_fd, up->leaf, &old) == 0;
	/* Without delete: only the file the upload began from (an append,
	 * held open since), as it was, is replaced, and a name found free
	 * stays so until the rename. A file another session renamed there,
	 * or bytes another program wrote into it, are kept (EEXIST). */
	if (!h->may_replace) {
		struct stat now;

		if (existed &&
		    (up->orig_fd < 0 || fstat(up->orig_fd, &now) < 0 ||
		        !same_file(&old, &now) ||
		        (uint64_t)now.st_size != up->orig_size ||
		        now.st_mtim.tv_sec != up->orig_mtime.tv_sec ||
		        now.st_mtim.tv_nsec != up->orig_mtime.tv_nsec)) {
			account_names_unlock(h->account);
			errno = EEXIST;
			return -1;
		}
		if (!existed)
			noreplace = 1;
	}
	if (!noreplace && existed && S_ISREG(old.st_mode)) {
		rbytes = (uint64_t)old.st_size;
		rentries = 1;
	}
	pub.partial_bytes = (uint64_t)part.st_size;
	pub.credit_bytes = up->credit;
	pub.credit_entries = up->credit_entries;
	pub.replaced_bytes = rbytes;
	pub.replaced_entries = rentries;
	up->replaced = rbytes;
	if (h->account != NULL && account_publish_fits(h->account, &pub) < 0) {
		errno = EDQUOT;
	} else if (fs_leaf_rename(
	               up->parent_fd, up->partial, up->leaf, noreplace) == 0) {
		if (rentries > 0 && h->account != NULL)
			account_sub(h->account, rbytes, rentries);
		end_replace(h, up);
		/* The partial's entry became the name's: one fewer if the
		 * name was there (a rename replaces whatever it held). */
		quota_folder_changed(
		    h->account, up->parent_fd, &mark, existed ? -1 : 0);
		rc = 0;
	}
	err = errno;
	account_names_unlock(h->account);
	if (rc < 0) {
		errno = err;
		return -1;
	}
	/* The folder is the one the upload opened, wherever a rename in
	 * another session put it meanwhile: report the file there. If
	 * that cannot be told, the mirror finds it by rescanning. */
	if (!folder_moved(h->root_fd, up->parent_fd, vpath)) {
		/* Where it was asked for: the usual case, without /proc. */
	} else if (fs_dir_vpath(h->root_fd, up->parent_fd, dir, sizeof(dir)) ==
	    0) {
		char now[RFTP_PATH_MAX];
		int n = snprintf(now, sizeof(now), "%s%s%s", dir,
		    strcmp(dir, "/") == 0 ? "" : "/", up->leaf);

		if (n > 0 && (size_t)n < sizeof(now))
			memcpy(vpath, now, (size_t)n + 1);
	}
	up_close(up);
	return 0;
}

/*
 * What of a partial of size bytes may stay for a resume. One that was to
 * replace a file was lent, against that file (its credit, which stays),
 * bytes and an entry past the limits: kept whole, the home would stay
 * over quota_bytes or quota_files, or its folder over
 * max_entries_per_folder, with the file and the partial both there. So it
 * keeps only the bytes within quota_bytes, and nothing if its entry is
 * one too many. Returns the size to keep (0: remove it). Names lock held.
 */
static uint64_t
fitting_size(
    const struct upload_home *h, const struct upload *up, uint64_t size)
{
	uint64_t xbytes = 0, xfiles = 0, cut;

	if (up->credit == 0 && up->credit_entries == 0 && !up->lent_entry)
		return size; /* reserved within the limits as it came */
	/* A replace of a link kept whole left the folder one name over
	 * its cap (found by a review). */
	if ((up->credit_entries > 0 || up->lent_entry) &&
	    h->max_entries_per_folder > 0 &&
	    quota_folder_has_room(h->account, up->parent_fd,
	        h->max_entries_per_folder + 1, NULL) < 0 &&
	    errno == EDQUOT)
		return 0;
	if (h->account != NULL)
		account_excess(h->account, &xbytes, &xfiles);
	if (xfiles > 0 && up->credit_entries > 0)
		return 0;
	if (up->credit == 0 || xbytes == 0)
		return size;
	/* At most what this upload borrowed: the overage may be another
	 * replace's loan in flight, or a quota lowered since. */
	cut = xbytes < up->credit ? xbytes : up->credit;
	/* Below where this upload's bytes start the partial holds a copy of
	 * the file (APPE, REST) or an earlier upload's bytes: cut there, a
	 * resume would continue the wrong bytes. */
	if (cut >= size || size - cut < up->offset)
		return 0;
	return size - cut;
}

/* upload_abandon with the names lock held. */
static enum upload_kept
abandon_locked(const struct upload_home *h, struct upload *up, int keep)
{
	/* lock_fd if there is one: the writing descriptor may be closed
	 * (upload_commit). */
	int held = up->lock_fd >= 0 ? up->lock_fd : up->fd;
	enum upload_kept kept = keep ? UPLOAD_KEPT : UPLOAD_REMOVED;
	struct stat st;
	uint64_t size, fit;

	/* Removed, or kept within the quota (fitting_size keeps no
	 * replace's partial while the home is past quota_files): the
	 * replace, if it is one, ends either way. */
	end_replace(h, up);

	if (held < 0 || fstat(held, &st) < 0) {
		up_close(up);
		return keep ? UPLOAD_KEPT : UPLOAD_REMOVED;
	}
	size = (uint64_t)st.st_size;
	fit = keep ? fitting_size(h, up, size) : 0;
	/* Cut through the writing descriptor; without one, removed. */
	if (keep && fit > 0 && fit < size) {
		if (up->fd >= 0 && ftruncate(up->fd, (off_t)fit) == 0) {
			if (h->account != NULL)
				account_sub(h->account, size - fit, 0);
			kept = UPLOAD_CUT;
		} else {
			fit = 0;
		}
	}
	if (fit == 0) {
		kept = UPLOAD_REMOVED;
		if (fs_leaf_unlink(up->parent_fd, up->partial) == 0) {
			quota_folder_forget(h->account, up->parent_fd);
			if (h->account != NULL)
				account_sub(h->account, size, 1);
		} else if (errno != ENOENT) {
			/* An EIO or a folder made read-only under us: the
			 * log said "removed" of a partial an admin then found
			 * (and a resume may continue). Gone already is
			 * removed. */
			up->unlink_err = errno;
			kept = UPLOAD_LEFT;
		}
	}
	up_close(up);
	return kept;
}

enum upload_kept
upload_abandon(const struct upload_home *h, struct upload *up, int keep)
{
	enum upload_kept kept;

	account_names_lock(h->account);
	kept = abandon_locked(h, up, keep);
	account_names_unlock(h->account);
	return kept;
}

enum upload_kept
upload_abandon_own(const struct upload_home *h, struct upload *up)
{
	enum upload_kept kept;
	struct stat st;
	int keep = 0, cut = 0;

	account_names_lock(h->account);
	/* Below offset: an earlier upload's bytes (another user's of a
	 * shared home, say), not this one's to take. */
	if (up->resumed && up->offset > 0 && up->fd >= 0 &&
	    fstat(up->fd, &st) == 0 && (uint64_t)st.st_size >= up->offset) {
		keep = 1;
		if ((uint64_t)st.st_size > up->offset) {
			if (ftruncate(up->fd, (off_t)up->offset) == 0) {
				if (h->account != NULL)
					account_sub(h->account,
					    (uint64_t)st.st_size - up->offset,
					    0);
				cut = 1;
			} else {
				keep = 0; /* not cut: removed, as before */
			}
		}
	}
	kept = abandon_locked(h, up, keep);
	account_names_unlock(h->account);
	return cut && kept == UPLOAD_KEPT ? UPLOAD_CUT : kept;
}

int
upload_resume_size(
    const struct upload_home *h, const char *vpath, uint64_t *size)
{
	char partial[NAME_MAX + 1];
	const char *leaf;
	struct stat st;
	int pfd, rc = -1;

	/* The published file first: SIZE is what RETR would send (RFC 3659
	 * 4). An interrupted replace's partial answered instead, and curl
	 * then took a download that ended there for a whole one. */
	if (fs_stat(h->root_fd, vpath, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			/* A FIFO or a device a local program made is no
			 * folder: EINVAL ("not a plain file"). */
			errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
			return -1;
		}
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if (errno != ENOENT)
		return -1;
	/* No file yet: an upload's bytes so far, for a resume. */
	pfd = fs_open_parent(h->root_fd, vpath, &leaf);
	if (pfd >= 0 && fs_partial_leaf(leaf, partial, sizeof(partial)) == 0 &&
	    fs_leaf_stat(pfd, partial, &st) == 0 && S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		rc = 0;
	}
	if (pfd >= 0)
		close(pfd);
	if (rc < 0)
		errno = ENOENT;
	return rc;
}

/* Removes partial up->partial of folder up->parent_fd if no session
 * holds it locked: 1 (up closed), 0 if none or held (up left for
 * up_close, which stays safe after either; *held set if a session holds
 * it), -1 (errno) if it could not be removed (a file system gone
 * read-only, EIO). Called under the names lock. */
static int
drop_unheld(const struct upload_home *h, struct upload *up, int *held)
{
	/* O_NONBLOCK: a FIFO under the name must not hang DELE. */
	up->lock_fd =
	    fs_leaf_open(up->parent_fd, up->partial, O_RDONLY | O_NONBLOCK, 0);
	*held = up->lock_fd >= 0 && flock(up->lock_fd, LOCK_EX | LOCK_NB) != 0;
	/* A partial someone is writing stays; so does the name if it holds
	 * another file since (a session renamed ours into place and made a
	 * new partial while we waited). */
	if (up->lock_fd < 0 || *held || !name_holds(up, up->lock_fd))
		return 0;
	/* A partial that is still there was not deleted: DELE said it
	 * was ("250 Interrupted upload deleted") on a file system gone
	 * read-only. */
	if (abandon_locked(h, up, 0) == UPLOAD_LEFT) {
		errno = up->unlink_err;
		return -1;
	}
	return 1;
}

int
upload_remove_partial(const struct upload_home *h, const char *vpath)
{
	struct upload up;
	const char *leaf;
	int gone = 0, held = 0;

	up_init(&up);
	up.parent_fd = fs_open_parent(h->root_fd, vpath, &leaf);
	if (up.parent_fd < 0)
		return 0;
	/* Under the names lock, as an upload makes and locks its partial:
	 * outside it, a partial just made and not yet locked (nor counted)
	 * was taken here for a kept one and counted off the quota, so
	 * the home could then hold one file more than quota_files (found by
	 * an outside battery). */
	account_names_lock(h->account);
	if (fs_partial_leaf(leaf, up.partial, sizeof(up.partial)) == 0)
		gone = drop_unheld(h, &up, &held);
	account_names_unlock(h->account);
	up_close(&up);
	/* A session (of this user or another user of the home) is writing
	 * it: DELE said "No such file" of a name SIZE had just shown. */
	if (held) {
		errno = EBUSY;
		return -1;
	}
	return gone;
}

int
upload_remove_partials_in(const struct upload_home *h, const char *vdir)
{
	DIR *d = fs_opendir(h->root_fd, vdir);
	const size_t plen = strlen(RFTP_PARTIAL_PREFIX);
	struct dirent *e;
	int n = 0, gone, err, held;

	if (d == NULL)
		return -1;
	/* Only from a folder that holds nothing else: RMD of a folder that
	 * is not empty must change nothing (a resume would be lost). */
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0 &&
		    strncmp(e->d_name, RFTP_PARTIAL_PREFIX, plen) != 0) {
			closedir(d);
			return 0;
		}
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		struct upload up;

		up_init(&up);
		if (strncmp(e->d_name, RFTP_PARTIAL_PREFIX, plen) != 0 ||
		    snprintf(up.partial, sizeof(up.partial), "%s", e->d_name) >=
		        (int)sizeof(up.partial))
			continue;
		up.parent_fd = fcntl(dirfd(d), F_DUPFD_CLOEXEC, 0);
		if (up.parent_fd < 0)
			break;
		/* As upload_remove_partial: under the names lock. */
		account_names_lock(h->account);
		gone = drop_unheld(h, &up, &held);
		err = errno;
		account_names_unlock(h->account);
		up_close(&up);
		if (gone < 0) {
			closedir(d);
			errno = err;
			return -1;
		}
		n += gone;
	}
	closedir(d);
	return n;
}
