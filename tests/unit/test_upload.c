/*
 * test_upload.c - the partial file's life (server/upload.h), on a real
 * temporary folder (fixture.h) removed in the teardown.
 *
 * Covers: begin writes to a hidden partial and the final name appears only
 * at commit (STOR, STOU, a replace); abandon keeps or removes the partial
 * and gives its bytes back to the quota; the resume rule of the README
 * (SIZE reports the partial, APPE and REST = that size continue it, any
 * other REST is 554 with the partial untouched, STOR without REST starts
 * over, REST + STOR on a complete file keeps its first bytes, REST beyond
 * the end refused); a partial another writer holds is busy; quota
 * refusals (bytes, files, a full folder, a home not counted) leave no
 * partial behind; a partial's name is never one a client can name; DELE's
 * partial removal spares a partial being written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/limits.h"
#include "common/pathnorm.h"
#include "server/quota.h"
#include "server/upload.h"
#include "fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pthread.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Armed (>= 0): the next copy_file_range copies at most this many bytes
 * for real, and the one after it fails with EIO, as a disk error halfway
 * through a seed copy would. */
static long long copy_fails_after = -1;

ssize_t __real_copy_file_range(
    int in, off_t *inoff, int out, off_t *outoff, size_t len, unsigned flags);
ssize_t __wrap_copy_file_range(
    int in, off_t *inoff, int out, off_t *outoff, size_t len, unsigned flags);

ssize_t
__wrap_copy_file_range(
    int in, off_t *inoff, int out, off_t *outoff, size_t len, unsigned flags)
{
	if (copy_fails_after < 0)
		return __real_copy_file_range(
		    in, inoff, out, outoff, len, flags);
	if (copy_fails_after == 0) {
		copy_fails_after = -1;
		errno = EIO;
		return -1;
	}
	if (len > (size_t)copy_fails_after)
		len = (size_t)copy_fails_after;
	copy_fails_after = 0;
	return __real_copy_file_range(in, inoff, out, outoff, len, flags);
}

struct fixture {
	char dir[PATH_MAX];
	struct upload_home h; /* root_fd: O_PATH | O_DIRECTORY on dir */
	struct accounts *reg;
};

/*
 * Armed (race_fixture set): the next flock, the one an upload takes on the
 * partial it just made, first lets another session's DELE clean-up
 * (upload_remove_partial) run in a thread, and waits until that one has
 * tried its own flock on the partial, or 300 ms: a DELE that arrives
 * between the partial's creation and its lock.
 */
static struct fixture *race_fixture;
static pthread_t race_thread;
static pthread_mutex_t race_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t race_cond = PTHREAD_COND_INITIALIZER;
static int race_tried;
static _Thread_local int in_dele;

int __real_flock(int fd, int op);
int __wrap_flock(int fd, int op);

static void *
dele_main(void *arg)
{
	struct fixture *f = arg;

	in_dele = 1;
	upload_remove_partial(&f->h, "/two");
	return NULL;
}

int
__wrap_flock(int fd, int op)
{
	struct fixture *f = race_fixture;
	struct timespec until;
	pthread_t t;
	int rc;

	if (in_dele) {
		rc = __real_flock(fd, op);
		pthread_mutex_lock(&race_lock);
		race_tried = 1;
		pthread_cond_broadcast(&race_cond);
		pthread_mutex_unlock(&race_lock);
		return rc;
	}
	if (f == NULL)
		return __real_flock(fd, op);
	race_fixture = NULL;
	assert_int_equal(pthread_create(&t, NULL, dele_main, f), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 300 * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&race_lock);
	while (!race_tried &&
	    pthread_cond_timedwait(&race_cond, &race_lock, &until) == 0)
		;
	pthread_mutex_unlock(&race_lock);
	rc = __real_flock(fd, op);
	/* Joined by the test, once the upload let go of the names lock. */
	race_thread = t;
	return rc;
}

/* dir/name, which must fit (the test's own names always do). */
static void
name_in(const struct fixture *f, const char *name, char *out, size_t outlen)
{
	fixture_join(out, outlen, f->dir, name);
}

static void
put(const struct fixture *f, const char *name, const char *data)
{
	fixture_write_file(f->dir, name, data, NULL, 0);
}

/* The bytes of dir/name as a string, or NULL if it does not exist. */
static const char *
get(const struct fixture *f, const char *name)
{
	static char data[256];
	char path[PATH_MAX + NAME_MAX + 2];
	ssize_t n;
	int fd;

	name_in(f, name, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, data, sizeof(data) - 1);
	close(fd);
	assert_true(n >= 0);
	data[n] = '\0';
	return data;
}

static void
write_all(int fd, const char *data)
{
	size_t len = strlen(data);

	assert_int_equal(write(fd, data, len), (ssize_t)len);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->h.root_fd = -1;
	f->h.may_replace = 1; /* the rw user's: replaces and appends */
	f->h.may_append = 1;
	if (fixture_tmpdir("upload", f->dir, sizeof(f->dir)) == 0)
		f->h.root_fd = open(f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	f->reg = accounts_new();
	if (f->h.root_fd < 0 || f->reg == NULL) {
		accounts_free(f->reg);
		if (f->h.root_fd >= 0)
			close(f->h.root_fd);
		fixture_drop(f, f->dir);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f->h.account != NULL)
		account_leave(f->reg, f->h.account);
	accounts_free(f->reg);
	close(f->h.root_fd);
	return fixture_drop(f, f->dir);
}

/* Gives the home an account with these limits (0 = none); the home is
 * counted as it is now. */
static void
join(struct fixture *f, uint64_t bytes, uint64_t files)
{
	assert_int_equal(account_join(f->reg, "u", 0, bytes, files,
	                     f->h.root_fd, &f->h.account),
	    ACCOUNT_OK);
}

static void
usage(struct fixture *f, uint64_t *bytes, uint64_t *files)
{
	account_usage(f->h.account, bytes, files);
}

/* --- begin, commit, abandon ------------------------------------------- */

static void
test_stor_publishes_at_commit(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/a.txt";
	struct upload up;
	uint64_t size = 0;

	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 0, &up), UPLOAD_OK);
	assert_int_equal(up.offset, 0);
	assert_string_equal(up.partial, ".rftpd-partial.a.txt");
	write_all(up.fd, "hello");
	/* Readers see nothing yet; SIZE reports the bytes received. */
	assert_null(get(f, "a.txt"));
	assert_string_equal(get(f, ".rftpd-partial.a.txt"), "hello");
	assert_int_equal(upload_resume_size(&f->h, "/a.txt", &size), 0);
	assert_int_equal(size, 5);
	assert_int_equal(upload_commit(&f->h, &up, 0, vpath), 0);
	assert_string_equal(vpath, "/a.txt");
	assert_string_equal(get(f, "a.txt"), "hello");
	assert_null(get(f, ".rftpd-partial.a.txt"));
	assert_int_equal(up.fd, -1);
	assert_int_equal(up.parent_fd, -1);
}

static void
test_stor_replaces_whole(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/a.txt";
	struct upload up;

	put(f, "a.txt", "old contents");
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 0, &up), UPLOAD_OK);
	assert_int_equal(up.credit, 12);
	assert_int_equal(up.credit_entries, 1);
	write_all(up.fd, "new");
	/* Until the rename, the old file is whole. */
	assert_string_equal(get(f, "a.txt"), "old contents");
	assert_int_equal(upload_commit(&f->h, &up, 0, vpath), 0);
	assert_string_equal(get(f, "a.txt"), "new");
}

static void
test_stou_unique_name(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/stou";
	struct upload up;
	const char *leaf;

	put(f, "stou", "taken");
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOU, 0, &up), UPLOAD_OK);
	assert_string_not_equal(vpath, "/stou");
	assert_int_equal(strncmp(vpath, "/stou.", 6), 0);
	assert_int_equal(strlen(vpath), strlen("/stou.") + 8);
	write_all(up.fd, "mine");
	assert_int_equal(upload_commit(&f->h, &up, 1, vpath), 0);
	leaf = path_leaf(vpath);
	assert_string_equal(get(f, leaf), "mine");
	assert_string_equal(get(f, "stou"), "taken");
}

static void
test_abandon_keep_and_remove(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/b.bin";
	struct upload up;
	uint64_t bytes, files;

	join(f, 1000, 10);
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 0, &up), UPLOAD_OK);
	/* transfer.c charges the bytes before writing them. */
	assert_int_equal(account_add_bytes(f->h.account, 4, up.credit), 0);
	write_all(up.fd, "abcd");
	upload_abandon(&f->h, &up, 1);
	assert_string_equal(get(f, ".rftpd-partial.b.bin"), "abcd");
	assert_null(get(f, "b.bin"));
	usage(f, &bytes, &files);
	assert_int_equal(bytes, 4);
	assert_int_equal(files, 1);

	/* APPE picks it up; abandoning without keep removes it and gives
	 * its bytes and its entry back. */
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_APPE, 0, &up), UPLOAD_OK);
	assert_int_equal(up.offset, 4);
	upload_abandon(&f->h, &up, 0);
	assert_null(get(f, ".rftpd-partial.b.bin"));
	usage(f, &bytes, &files);
	assert_int_equal(bytes, 0);
	assert_int_equal(files, 0);
}

/* --- the resume rule --------------------------------------------------- */

/* Leaves an interrupted upload of /r.bin holding "12345". */
static void
interrupted(struct fixture *f)
{
	char vpath[RFTP_PATH_MAX] = "/r.bin";
	struct upload up;

	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 0, &up), UPLOAD_OK);
	write_all(up.fd, "12345");
	upload_abandon(&f->h, &up, 1);
}

static void
test_resume_rest_must_match(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/r.bin";
	struct upload up;
	uint64_t size = 0;

	interrupted(f);
	assert_int_equal(upload_resume_size(&f->h, vpath, &size), 0);
	assert_int_equal(size, 5);
	/* Past the bytes received (a hole): refused, the partial
	 * untouched. */
	assert_int_equal(upload_begin(&f->h, vpath, UP_STOR, 6, &up),
	    UPLOAD_ERR_REST_MISMATCH);
	assert_int_equal(up.have, 5);
	assert_string_equal(up.leaf, "r.bin");
	assert_int_equal(up.fd, -1);
	assert_string_equal(get(f, ".rftpd-partial.r.bin"), "12345");
	/* Exactly the size: continues after the bytes received. */
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 5, &up), UPLOAD_OK);
	assert_int_equal(up.offset, 5);
	write_all(up.fd, "678");
	assert_int_equal(upload_commit(&f->h, &up, 0, vpath), 0);
	assert_string_equal(get(f, "r.bin"), "12345678");
}

/* REST rest + STOR of an interrupted upload of /r.bin ("12345", charged
 * to a quota): begins at rest with the partial cut back to kept, and
 * only those bytes still charged. */
static void
stor_resumes_at(struct fixture *f, char *vpath, uint64_t rest, const char *kept,
    struct upload *up)
{
	uint64_t bytes, files;

	join(f, 1000, 10);
	interrupted(f);
	/* The interrupted bytes were never charged here (no transfer.c):
	 * charge them as the transfer would have. */
	assert_int_equal(account_add_bytes(f->h.account, 5, 0), 0);
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, rest, up), UPLOAD_OK);
	assert_int_equal(up->offset, rest);
	assert_string_equal(get(f, ".rftpd-partial.r.bin"), kept);
	usage(f, &bytes, &files);
	assert_int_equal(bytes, rest);
	assert_int_equal(files, 1);
}

/* REST below the bytes received (wput resends a tail): they are cut
 * back to it, and given back to the quota. */
static void
test_resume_rest_below_cuts_back(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/r.bin";
	struct upload up;

	stor_resumes_at(f, vpath, 3, "123", &up);
	write_all(up.fd, "xy");
	assert_int_equal(upload_commit(&f->h, &up, 0, vpath), 0);
	assert_string_equal(get(f, "r.bin"), "123xy");
}

static void
test_resume_appe_continues(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/r.bin";
	struct upload up;

	interrupted(f);
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_APPE, 0, &up), UPLOAD_OK);
	assert_int_equal(up.offset, 5);
	write_all(up.fd, "6");
	assert_int_equal(upload_commit(&f->h, &up, 0, vpath), 0);
	assert_string_equal(get(f, "r.bin"), "123456");
}

/* APPE's copy of the published file fails after 6 of its 16 bytes: the
 * upload is refused, the partial removed, and the quota is back where it
 * was: the 16 bytes charged for the seed are returned once (they were
 * returned as charged, then the 6 copied again by the partial's
 * removal, so the home looked 6 bytes emptier than it was). */
static void
test_failed_seed_copy_returns_its_charge_once(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/s.bin";
	struct upload up;
	uint64_t bytes, files;

	put(f, "s.bin", "0123456789ABCDEF");
	put(f, "other", "01234567");
	join(f, 1000, 10);
	copy_fails_after = 6;
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_APPE, 0, &up), UPLOAD_ERR_APPEND);
	copy_fails_after = -1;
	assert_int_equal(up.err, EIO);
	assert_null(get(f, ".rftpd-partial.s.bin"));
	assert_string_equal(get(f, "s.bin"), "0123456789ABCDEF");
	usage(f, &bytes, &files);
	assert_int_equal(bytes, 24);
	assert_int_equal(files, 2);
	/* The same with REST + STOR's copy of the first 12 bytes. */
	copy_fails_after = 5;
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 12, &up), UPLOAD_ERR_APPEND);
	copy_fails_after = -1;
	assert_null(get(f, ".rftpd-partial.s.bin"));
	usage(f, &bytes, &files);
	assert_int_equal(bytes, 24);
	assert_int_equal(files, 2);
}

static void
test_resume_stor_starts_over(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/r.bin";
	struct upload up;

	stor_resumes_at(f, vpath, 0, "", &up);
	upload_abandon(&f->h, &up, 0);
}

static void
test_rest_on_complete_file(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/c.txt";
	struct upload up;

	put(f, "c.txt", "abcdef");
	/* REST beyond the end: refused, nothing made. */
	assert_int_equal(upload_begin(&f->h, vpath, UP_STOR, 7, &up),
	    UPLOAD_ERR_REST_BEYOND);
	assert_int_equal(up.have, 6);
	assert_null(get(f, ".rftpd-partial.c.txt"));
	/* REST 4: the first 4 bytes are kept, the rest comes anew. */
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 4, &up), UPLOAD_OK);
	assert_int_equal(up.offset, 4);
	write_all(up.fd, "XY");
	assert_string_equal(get(f, "c.txt"), "abcdef");
	assert_int_equal(upload_commit(&f->h, &up, 0, vpath), 0);
	assert_string_equal(get(f, "c.txt"), "abcdXY");
	/* REST on a name that holds nothing. */
	memcpy(vpath, "/none", sizeof("/none"));
	assert_int_equal(upload_begin(&f->h, vpath, UP_STOR, 1, &up),
	    UPLOAD_ERR_REST_BEYOND);
	assert_int_equal(up.have, 0);
	assert_null(get(f, ".rftpd-partial.none"));
}

static void
test_busy_and_remove_partial(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/w.bin";
	char again[RFTP_PATH_MAX] = "/w.bin";
	struct upload up, other;

	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 0, &up), UPLOAD_OK);
	write_all(up.fd, "xx");
	/* Two writers never interleave. */
	assert_int_equal(
	    upload_begin(&f->h, again, UP_APPE, 0, &other), UPLOAD_ERR_BUSY);
	assert_int_equal(other.fd, -1);
	assert_int_equal(other.parent_fd, -1);
	/* DELE's clean-up spares a partial being written, and says so
	 * (DELE answers 450, not "No such file")... */
	errno = 0;
	assert_int_equal(upload_remove_partial(&f->h, vpath), -1);
	assert_int_equal(errno, EBUSY);
	assert_string_equal(get(f, ".rftpd-partial.w.bin"), "xx");
	upload_abandon(&f->h, &up, 1);
	/* ...and removes one nobody writes, once. */
	assert_int_equal(upload_remove_partial(&f->h, vpath), 1);
	assert_null(get(f, ".rftpd-partial.w.bin"));
	assert_int_equal(upload_remove_partial(&f->h, vpath), 0);
}

static void
test_folder_is_not_a_file(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/d";
	char path[PATH_MAX + NAME_MAX + 2];
	struct upload up;
	uint64_t size;

	name_in(f, "d", path, sizeof(path));
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 0, &up), UPLOAD_ERR_IS_DIR);
	assert_null(get(f, ".rftpd-partial.d"));
	assert_int_equal(upload_resume_size(&f->h, vpath, &size), -1);
	assert_int_equal(errno, EISDIR);
	/* A folder that is not there: the errno says why. */
	memcpy(vpath, "/nope/x", sizeof("/nope/x"));
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 0, &up), UPLOAD_ERR_CREATE);
	assert_int_equal(up.err, ENOENT);
}

/* --- quota ------------------------------------------------------------- */

static void
test_quota_bytes_refused(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/big";
	struct upload up;
	uint64_t bytes, files;

	/* A home already over its quota (the admin lowered it): 24 bytes
	 * under a quota of 20. APPE copies big's 16 bytes into the partial;
	 * with big itself as credit that is 40 > 20 + 16. */
	put(f, "big", "0123456789ABCDEF");
	put(f, "other", "01234567");
	join(f, 20, 10);
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_APPE, 0, &up), UPLOAD_ERR_QUOTA);
	assert_null(get(f, ".rftpd-partial.big"));
	usage(f, &bytes, &files);
	assert_int_equal(bytes, 24);
	assert_int_equal(files, 2);
	/* REST + STOR keeps bytes of the file the same way: 24 + 13 > 36. */
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 13, &up), UPLOAD_ERR_QUOTA);
	assert_null(get(f, ".rftpd-partial.big"));
	/* A plain STOR starts empty: allowed, the bytes are charged as
	 * they arrive. */
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 0, &up), UPLOAD_OK);
	upload_abandon(&f->h, &up, 0);
	usage(f, &bytes, &files);
	assert_int_equal(bytes, 24);
	assert_int_equal(files, 2);
}

static void
test_quota_files_refused(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/two";
	struct upload up;

	put(f, "one", "1");
	join(f, 0, 1);
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 0, &up), UPLOAD_ERR_FILES);
	assert_null(get(f, ".rftpd-partial.two"));
	/* Replacing the one file needs no new entry. */
	memcpy(vpath, "/one", sizeof("/one"));
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 0, &up), UPLOAD_OK);
	upload_abandon(&f->h, &up, 0);
}

/* Entries in the fixture's folder, partials included. */
static uint64_t
entries_on_disk(const struct fixture *f)
{
	DIR *d = opendir(f->dir);
	struct dirent *e;
	uint64_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
test_dele_meets_a_new_partial(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/two";
	uint64_t bytes, files;
	struct upload up;

	/* DELE two's clean-up, between the partial's creation and its lock:
	 * it took the new partial for a kept one, removed it and counted it
	 * off the quota, which never had it; the home could then hold one
	 * file more than quota_files (found by an outside battery). */
	put(f, "one", "1");
	join(f, 0, 10);
	race_tried = 0;
	race_fixture = f;
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 0, &up), UPLOAD_OK);
	/* The hook ran (else race_thread is no thread and nothing raced),
	 * and the DELE got as far as the partial's flock: a DELE that gave
	 * up before it (no folder, no partial) would test nothing. */
	assert_null(race_fixture);
	assert_int_equal(pthread_join(race_thread, NULL), 0);
	assert_int_equal(race_tried, 1);
	usage(f, &bytes, &files);
	assert_int_equal(files, entries_on_disk(f));
	assert_int_equal(files, 2);
	write_all(up.fd, "2");
	assert_int_equal(upload_commit(&f->h, &up, 0, vpath), 0);
	usage(f, &bytes, &files);
	assert_int_equal(files, entries_on_disk(f));
	assert_string_equal(get(f, "two"), "2");
}

static void
test_folder_full_refused(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/second";
	struct upload up;

	put(f, "first", "1");
	f->h.max_entries_per_folder = 1;
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 0, &up), UPLOAD_ERR_FOLDER);
	assert_null(get(f, ".rftpd-partial.second"));
	memcpy(vpath, "/first", sizeof("/first"));
	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 0, &up), UPLOAD_OK);
	upload_abandon(&f->h, &up, 0);
}

/*
 * The scenario of test_uncounted_home_refused, run in a child that cannot
 * read the folder "locked" (root reads anything, so a root test run
 * becomes an unprivileged user here). Exits 0 if upload_begin refused
 * with the folder named and no partial made.
 */
static int
uncounted_child(struct fixture *f, const char *locked)
{
	char vpath[RFTP_PATH_MAX] = "/x";
	struct upload up;

	if (geteuid() == 0 &&
	    (setresgid(65534, 65534, 65534) < 0 || setgroups(0, NULL) < 0 ||
	        setresuid(65534, 65534, 65534) < 0))
		return 2;
	if (account_join(f->reg, "u", 0, 1000, 0, f->h.root_fd,
	        &f->h.account) != ACCOUNT_OK)
		return 3;
	if (chmod(locked, 0700) < 0)
		return 4;
	if (upload_begin(&f->h, vpath, UP_STOR, 0, &up) != UPLOAD_ERR_UNCOUNTED)
		return 5;
	if (strstr(up.why, "locked") == NULL)
		return 6;
	return get(f, ".rftpd-partial.x") == NULL ? 0 : 7;
}

static void
test_uncounted_home_refused(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + NAME_MAX + 2];
	int status = -1;
	pid_t pid;

	name_in(f, "locked", path, sizeof(path));
	assert_int_equal(mkdir(path, 0700), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(f->dir, 65534, 65534), 0);
		assert_int_equal(chown(path, 65534, 65534), 0);
	}
	assert_int_equal(chmod(path, 0), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(uncounted_child(f, path));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(chmod(path, 0700), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* --- partial names ----------------------------------------------------- */

static void
test_partial_never_nameable(void **state)
{
	struct fixture *f = *state;
	char vpath[RFTP_PATH_MAX] = "/n.txt", out[RFTP_PATH_MAX];
	struct upload up;

	assert_int_equal(
	    upload_begin(&f->h, vpath, UP_STOR, 0, &up), UPLOAD_OK);
	/* Whatever path a client writes to reach it, the normaliser that
	 * every command goes through refuses it. */
	assert_int_equal(path_normalize("/", up.partial, strlen(up.partial),
	                     out, sizeof(out)),
	    PATH_ERESERVED);
	assert_int_equal(
	    path_normalize("/sub", "../.rftpd-partial.n.txt",
	        strlen("../.rftpd-partial.n.txt"), out, sizeof(out)),
	    PATH_ERESERVED);
	assert_int_equal(
	    path_normalize("/", "/./.rftpd-partial.n.txt/",
	        strlen("/./.rftpd-partial.n.txt/"), out, sizeof(out)),
	    PATH_ERESERVED);
	assert_true(path_is_partial_name(up.partial));
	upload_abandon(&f->h, &up, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_dele_meets_a_new_partial, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stor_publishes_at_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stor_replaces_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stou_unique_name, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_abandon_keep_and_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_resume_rest_must_match, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_resume_rest_below_cuts_back, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_resume_appe_continues, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_failed_seed_copy_returns_its_charge_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_resume_stor_starts_over, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_rest_on_complete_file, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_busy_and_remove_partial, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_folder_is_not_a_file, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_quota_bytes_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_quota_files_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_folder_full_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_uncounted_home_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_partial_never_nameable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
