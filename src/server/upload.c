/*
 * upload.c - see upload.h.
 *
 * Locking: flock(LOCK_EX|LOCK_NB) on the partial's open file. After taking
 * the lock we check that the name still leads to the locked inode, because
 * the previous writer may have just renamed it into place; writing to that
 * inode would change a published file.
 *
 * Quota: a partial counts one entry from its creation and its bytes as
 * they are written (transfer.c charges them, with the size of the file it
 * will replace as credit). The credit is only a forecast: another session
 * may delete or replace that file meanwhile. So publishing looks at what the
 * name holds at the moment of the rename, under the account's names lock,
 * refuses the rename if the credit did not come true and the home would end
 * over quota, and releases only what the rename really replaced.
 */
#include "server/upload.h"

#include "common/log.h"
#include "common/fsgate.h"
#include "server/quota.h"
#include "server/server.h"
#include "server/session.h"
#include "server/reply.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_TRIES 3

static void
up_close(struct upload *up)
{
	if (up->fd >= 0)
		close(up->fd);
	if (up->parent_fd >= 0)
		close(up->parent_fd);
	up->fd = -1;
	up->parent_fd = -1;
}

/* Opens (creating if needed) and locks the partial. Returns 1 if this call
 * created it, 0 if it existed, -1 (errno; EWOULDBLOCK = another writer). */
static int
open_partial(struct upload *up)
{
	for (int i = 0; i < LOCK_TRIES; i++) {
		struct stat a, b;
		int created = 0;

		up->fd = fs_leaf_open(up->parent_fd, up->partial, O_RDWR, 0);
		if (up->fd < 0 && errno == ENOENT) {
			up->fd = fs_leaf_open(up->parent_fd, up->partial,
			    O_RDWR | O_CREAT | O_EXCL, 0666);
			created = 1;
			if (up->fd < 0 && errno == EEXIST)
				continue;
		}
		if (up->fd < 0)
			return -1;
		if (flock(up->fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;

			close(up->fd);
			up->fd = -1;
			errno = e;
			return -1;
		}
		if (fstat(up->fd, &a) == 0 &&
		    fs_leaf_stat(up->parent_fd, up->partial, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev &&
		    S_ISREG(a.st_mode))
			return created;
		close(up->fd);
		up->fd = -1;
	}
	errno = EWOULDBLOCK;
	return -1;
}

/* Copies the first n bytes of the published file into the fresh partial. */
static int
seed_from_final(
    struct session *s, const char *vpath, struct upload *up, uint64_t n)
{
	int src = fs_open(s->root_fd, vpath, O_RDONLY, 0);
	off_t in = 0, out = 0;

	if (src < 0)
		return -1;
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
	close(src);
	return (uint64_t)in == n ? 0 : -1;
fail:
	close(src);
	return -1;
}

static int
stou_name(struct session *s, char *vpath)
{
	unsigned char rnd[4];
	char *leaf = strrchr(vpath, '/');
	size_t room;
	int n;

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -1;
	(void)s;
	room = RFTP_PATH_MAX - strlen(vpath);
	n = snprintf(vpath + strlen(vpath), room, ".%02x%02x%02x%02x", rnd[0],
	    rnd[1], rnd[2], rnd[3]);
	if (n < 0 || (size_t)n >= room || strlen(leaf + 1) > NAME_MAX - 20)
		return -1;
	return 0;
}

int
upload_begin(struct session *s, char *vpath, enum upload_mode mode,
    uint64_t rest, struct upload *up)
{
	const char *leaf;
	struct stat fst, pst;
	int final_exists, created, err;
	uint64_t base = 0;
	char why[512];

	up->fd = -1;
	up->parent_fd = -1;
	up->offset = 0;
	up->credit = 0;
	up->credit_entries = 0;
	if (mode == UP_STOU && stou_name(s, vpath) < 0) {
		reply(s, 553, "Cannot make a unique file name.");
		return -1;
	}
	up->parent_fd = fs_open_parent(s->root_fd, vpath, &leaf);
	if (up->parent_fd < 0) {
		reply_errno(s, 553, "Cannot create file", errno);
		return -1;
	}
	snprintf(up->leaf, sizeof(up->leaf), "%s", leaf);
	if (fs_partial_leaf(leaf, up->partial, sizeof(up->partial)) < 0) {
		reply_errno(s, 553, "Cannot create file", errno);
		goto fail;
	}
	final_exists = fs_leaf_stat(up->parent_fd, leaf, &fst) == 0;
	if (final_exists && S_ISDIR(fst.st_mode)) {
		reply(s, 553, "Cannot create file: Is a directory.");
		goto fail;
	}
	if (final_exists && !S_ISREG(fst.st_mode))
		fst.st_size = 0;
	if (s->account != NULL &&
	    account_known(s->account, why, sizeof(why)) < 0) {
		slog(s, LOG_WARN,
		    "upload of %s refused: the home was not counted "
		    "completely for the quota (%s)",
		    vpath, why);
		reply(s, 552,
		    "Quota cannot be checked: your home could not be "
		    "counted completely; uploads are refused.");
		goto fail;
	}
	/* The replaced file stays counted until the rename releases it. */
	up->credit =
	    final_exists && S_ISREG(fst.st_mode) ? (uint64_t)fst.st_size : 0;
	up->credit_entries = final_exists && S_ISREG(fst.st_mode);
	/* A new name (no file, no partial yet) must fit in its folder; the
	 * check and the partial's creation are one step for this user. */
	account_names_lock(s->account);
	if (!final_exists &&
	    fs_leaf_stat(up->parent_fd, up->partial, &pst) < 0 &&
	    quota_folder_has_room(
	        up->parent_fd, s->user.max_entries_per_folder) < 0)
		created = -1;
	else
		created = open_partial(up);
	err = errno;
	account_names_unlock(s->account);
	errno = err;
	if (created < 0 && errno == EDQUOT) {
		slog(s, LOG_INFO,
		    "upload of %s refused: folder full "
		    "(max_entries_per_folder %llu)",
		    vpath, (unsigned long long)s->user.max_entries_per_folder);
		reply(s, 552,
		    "Folder full: it may hold at most %llu names; "
		    "remove some first.",
		    (unsigned long long)s->user.max_entries_per_folder);
		goto fail;
	}
	if (created < 0) {
		if (errno == EWOULDBLOCK)
			reply(s, 450,
			    "%s is being uploaded by another "
			    "session; try later.",
			    up->leaf);
		else
			reply_errno(s, 553, "Cannot create file", errno);
		goto fail;
	}
	if (created && s->account != NULL &&
	    account_add_file(s->account, up->credit_entries) < 0) {
		fs_leaf_unlink(up->parent_fd, up->partial);
		slog(s, LOG_INFO, "upload of %s refused: file quota", vpath);
		reply(s, 552, "Quota exceeded: too many files.");
		goto fail;
	}
	if (fstat(up->fd, &pst) < 0) {
		reply_errno(s, 451, "Cannot create file", errno);
		goto fail_remove;
	}
	if (!created) {
		/* An earlier upload of this name was interrupted. */
		base = (uint64_t)pst.st_size;
		if (mode == UP_STOR && rest == 0 && base > 0) {
			if (ftruncate(up->fd, 0) < 0) {
				reply_errno(
				    s, 451, "Cannot restart upload", errno);
				goto fail_keep;
			}
			if (s->account != NULL)
				account_sub(s->account, base, 0);
			base = 0;
		} else if (mode == UP_STOR && rest != base) {
			reply(s, 554,
			    "REST %llu does not match the %llu bytes "
			    "already received for %s; send REST %llu "
			    "to resume or REST 0 to start over.",
			    (unsigned long long)rest, (unsigned long long)base,
			    up->leaf, (unsigned long long)base);
			goto fail_keep;
		}
	} else {
		uint64_t seed = 0;

		if (mode == UP_APPE && final_exists)
			seed = (uint64_t)fst.st_size;
		else if (mode == UP_STOR && rest > 0) {
			if (!final_exists || rest > (uint64_t)fst.st_size) {
				reply(s, 554,
				    "REST %llu is beyond the %llu "
				    "bytes stored for %s.",
				    (unsigned long long)rest,
				    (unsigned long long)(final_exists ?
				            fst.st_size :
				            0),
				    up->leaf);
				goto fail_remove;
			}
			seed = rest;
		}
		if (seed > 0) {
			if (s->account != NULL &&
			    account_add_bytes(s->account, seed, up->credit) <
			        0) {
				reply(s, 552, "Quota exceeded.");
				goto fail_remove;
			}
			if (seed_from_final(s, vpath, up, seed) < 0) {
				if (s->account != NULL)
					account_sub(s->account, seed, 0);
				reply_errno(s, 451, "Cannot append", errno);
				goto fail_remove;
			}
		}
		base = seed;
	}
	if (lseek(up->fd, (off_t)base, SEEK_SET) < 0) {
		reply_errno(s, 451, "Cannot seek", errno);
		goto fail_keep;
	}
	up->offset = base;
	return 0;
fail_remove:
	upload_abandon(s, up, 0);
	return -1;
fail_keep:
	upload_abandon(s, up, 1);
	return -1;
fail:
	up_close(up);
	return -1;
}

int
upload_commit(struct session *s, struct upload *up, int noreplace, char *vpath)
{
	char dir[RFTP_PATH_MAX];
	struct stat old, part;
	struct publish pub;
	uint64_t rbytes = 0, rentries = 0;
	int rc = -1, err;

	if (s->srv->cfg.fsync_uploads && fsync(up->fd) < 0)
		return -1;
	if (fstat(up->fd, &part) < 0)
		return -1;
	/* What is replaced is what the name holds now, looked at under the
	 * names lock: a DELE or another upload of this user cannot change
	 * it before the rename. */
	account_names_lock(s->account);
	if (!noreplace && fs_leaf_stat(up->parent_fd, up->leaf, &old) == 0 &&
	    S_ISREG(old.st_mode)) {
		rbytes = (uint64_t)old.st_size;
		rentries = 1;
	}
	pub.partial_bytes = (uint64_t)part.st_size;
	pub.credit_bytes = up->credit;
	pub.credit_entries = up->credit_entries;
	pub.replaced_bytes = rbytes;
	pub.replaced_entries = rentries;
	if (s->account != NULL && account_publish_fits(s->account, &pub) < 0) {
		slog(s, LOG_INFO,
		    "upload of %s not published: the home would end over "
		    "quota with what the name holds now (%llu bytes)",
		    up->leaf, (unsigned long long)rbytes);
		errno = EDQUOT;
	} else if (fs_leaf_rename(
	               up->parent_fd, up->partial, up->leaf, noreplace) == 0) {
		if (rentries > 0 && s->account != NULL)
			account_sub(s->account, rbytes, rentries);
		rc = 0;
	}
	err = errno;
	account_names_unlock(s->account);
	if (rc < 0) {
		errno = err;
		return -1;
	}
	/* The folder is the one the upload opened, wherever a rename in
	 * another session put it meanwhile: report the file there. If
	 * that cannot be told, the mirror finds it by rescanning. */
	if (fs_dir_vpath(s->root_fd, up->parent_fd, dir, sizeof(dir)) == 0) {
		char now[RFTP_PATH_MAX];
		int n = snprintf(now, sizeof(now), "%s%s%s", dir,
		    strcmp(dir, "/") == 0 ? "" : "/", up->leaf);

		if (n > 0 && (size_t)n < sizeof(now) &&
		    strcmp(now, vpath) != 0) {
			slog(s, LOG_INFO,
			    "%s was published as %s (its folder was renamed "
			    "during the upload)",
			    vpath, now);
			memcpy(vpath, now, (size_t)n + 1);
		}
	}
	up_close(up);
	return 0;
}

void
upload_abandon(struct session *s, struct upload *up, int keep)
{
	struct stat st;

	if (!keep && up->fd >= 0 && fstat(up->fd, &st) == 0 &&
	    fs_leaf_unlink(up->parent_fd, up->partial) == 0 &&
	    s->account != NULL)
		account_sub(s->account, (uint64_t)st.st_size, 1);
	up_close(up);
}

int
upload_resume_size(struct session *s, const char *vpath, uint64_t *size)
{
	char partial[NAME_MAX + 1];
	const char *leaf;
	struct stat st;
	int pfd, rc = -1;

	pfd = fs_open_parent(s->root_fd, vpath, &leaf);
	if (pfd >= 0 && fs_partial_leaf(leaf, partial, sizeof(partial)) == 0 &&
	    fs_leaf_stat(pfd, partial, &st) == 0 && S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		rc = 0;
	}
	if (pfd >= 0)
		close(pfd);
	if (rc == 0)
		return 0;
	if (fs_stat(s->root_fd, vpath, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EISDIR;
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

void
upload_remove_partial(struct session *s, const char *vpath)
{
	struct upload up;
	const char *leaf;

	up.fd = -1;
	up.parent_fd = fs_open_parent(s->root_fd, vpath, &leaf);
	if (up.parent_fd < 0)
		return;
	if (fs_partial_leaf(leaf, up.partial, sizeof(up.partial)) == 0) {
		up.fd = fs_leaf_open(up.parent_fd, up.partial, O_RDWR, 0);
		/* A partial someone is writing stays. */
		if (up.fd >= 0 && flock(up.fd, LOCK_EX | LOCK_NB) == 0) {
			upload_abandon(s, &up, 0);
			return;
		}
	}
	up_close(&up);
}
