/*
 * test_quota.c - per-user accounting (server/quota.h).
 *
 * Covers the pure arithmetic (quota_fits, quota_sub: 0 = unlimited, exact
 * fit, one over, values near UINT64_MAX), and the accounts registry: the
 * home measured at the first join when a quota is set (through a real
 * O_PATH directory of a fixture.h folder, removed in the teardown),
 * max_sessions, byte and entry limits (folders count as entries),
 * account_sub, the account dropped by the last leave, and 8 threads racing
 * 1-byte reservations against one quota, which must grant exactly the
 * quota. The login count (fs_usage): 300 nested folders with a path over
 * 12,000 bytes counted to the last byte, and its budgets failing closed
 * with a reason naming the folder. account_publish_fits: a publish whose
 * replaced file went away gets no credit. The per-folder entry cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/fsgate.h"
#include "common/fsusage.h"
#include "fixture.h"
#include "server/quota.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
	char dir[PATH_MAX];
	int root; /* O_PATH | O_DIRECTORY on dir */
	struct accounts *reg;
};

/* What the fixture puts in the home: 3 regular files, 130 bytes, and 2
 * folders. quota_files counts files and folders: 5 entries. */
#define HOME_ENTRIES 5
#define HOME_BYTES   130

static int
put_file(const char *dir, const char *name, size_t size)
{
	char data[128];

	memset(data, 'q', sizeof(data));
	if (size > sizeof(data))
		return -1;
	return fixture_write(dir, name, data, size, NULL, 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char sub[PATH_MAX + 16], link[PATH_MAX + 16];

	if (f == NULL || fixture_tmpdir("quota", f->dir, sizeof(f->dir)) < 0)
		return -1;
	snprintf(sub, sizeof(sub), "%s/sub", f->dir);
	snprintf(link, sizeof(link), "%s/link", f->dir);
	/* 100 + 23 bytes at the top, 7 bytes a level down, an empty folder
	 * and a symlink (not followed, not counted) */
	if (put_file(f->dir, "a.bin", 100) < 0 ||
	    put_file(f->dir, "b.txt", 23) < 0 || mkdir(sub, 0700) < 0 ||
	    put_file(sub, "c.dat", 7) < 0 || symlink("/etc/passwd", link) < 0)
		return -1;
	snprintf(sub, sizeof(sub), "%s/empty", f->dir);
	if (mkdir(sub, 0700) < 0)
		return -1;
	f->root = open(f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (f->root < 0)
		return -1;
	f->reg = accounts_new();
	if (f->reg == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	accounts_free(f->reg);
	close(f->root);
	return fixture_drop(f, f->dir);
}

/* --- pure arithmetic ----------------------------------------------------- */

static void
test_quota_fits(void **state)
{
	(void)state;
	/* limit 0 = unlimited, whatever the numbers */
	assert_true(quota_fits(0, 0, 0));
	assert_true(quota_fits(UINT64_MAX, UINT64_MAX, 0));
	assert_true(quota_fits(123, 1, 0));

	/* exact fit and one over */
	assert_true(quota_fits(0, 10, 10));
	assert_true(quota_fits(5, 5, 10));
	assert_true(quota_fits(10, 0, 10));
	assert_true(quota_fits(9, 1, 10));
	assert_false(quota_fits(5, 6, 10));
	assert_false(quota_fits(10, 1, 10));
	assert_false(quota_fits(0, 11, 10));
	assert_false(quota_fits(11, 0, 10)); /* already over */

	/* near UINT64_MAX: used + add must not wrap into "fits" */
	assert_true(quota_fits(UINT64_MAX - 1, 1, UINT64_MAX));
	assert_true(quota_fits(0, UINT64_MAX, UINT64_MAX));
	assert_true(quota_fits(UINT64_MAX, 0, UINT64_MAX));
	assert_false(quota_fits(UINT64_MAX, 1, UINT64_MAX));
	assert_false(quota_fits(1, UINT64_MAX, UINT64_MAX));
	assert_false(quota_fits(UINT64_MAX, UINT64_MAX, UINT64_MAX));
	assert_false(
	    quota_fits(UINT64_MAX / 2 + 1, UINT64_MAX / 2 + 1, UINT64_MAX));
	assert_false(quota_fits(2, UINT64_MAX - 1, UINT64_MAX - 1));
	assert_false(quota_fits(UINT64_MAX - 10, 20, 100));
	assert_false(quota_fits(20, UINT64_MAX - 10, 100));
	assert_true(quota_fits(UINT64_MAX - 20, 20, UINT64_MAX));
	assert_false(quota_fits(UINT64_MAX - 20, 21, UINT64_MAX));
}

static void
test_quota_sub(void **state)
{
	(void)state;
	assert_true(quota_sub(10, 3) == 7);
	assert_true(quota_sub(10, 10) == 0);
	assert_true(quota_sub(10, 11) == 0);
	assert_true(quota_sub(0, 1) == 0);
	assert_true(quota_sub(0, UINT64_MAX) == 0);
	assert_true(quota_sub(5, UINT64_MAX) == 0);
	assert_true(quota_sub(UINT64_MAX, UINT64_MAX) == 0);
	assert_true(quota_sub(UINT64_MAX, 1) == UINT64_MAX - 1);
	assert_true(quota_sub(UINT64_MAX, 0) == UINT64_MAX);
}

/* --- the registry -------------------------------------------------------- */

static void
usage(struct account *a, uint64_t *bytes, uint64_t *files)
{
	*bytes = *files = 0xdeadbeef;
	account_usage(a, bytes, files);
}

/* With a quota, the first join measures the home: regular files only,
 * recursively, symlinks not followed. */
static void
test_join_measures_home(void **state)
{
	struct fixture *f = *state;
	struct account *a = NULL;
	uint64_t bytes, files;

	assert_int_equal(
	    account_join(f->reg, "alice", 0, 1000, 0, f->root, &a), ACCOUNT_OK);
	assert_non_null(a);
	usage(a, &bytes, &files);
	assert_int_equal(bytes, HOME_BYTES);
	assert_int_equal(files, HOME_ENTRIES);
	account_leave(f->reg, a);

	/* a files quota alone also measures */
	assert_int_equal(
	    account_join(f->reg, "alice", 0, 0, 50, f->root, &a), ACCOUNT_OK);
	usage(a, &bytes, &files);
	assert_int_equal(bytes, HOME_BYTES);
	assert_int_equal(files, HOME_ENTRIES);
	account_leave(f->reg, a);
}

/* Without any quota there is nothing to enforce, and no walk. */
static void
test_join_without_quota(void **state)
{
	struct fixture *f = *state;
	struct account *a = NULL;
	uint64_t bytes, files;

	assert_int_equal(
	    account_join(f->reg, "bob", 0, 0, 0, f->root, &a), ACCOUNT_OK);
	usage(a, &bytes, &files);
	assert_int_equal(bytes, 0);
	assert_int_equal(files, 0);
	/* unlimited: anything fits */
	assert_int_equal(account_add_bytes(a, 1ULL << 40, 0), 0);
	assert_int_equal(account_add_file(a, 0), 0);
	usage(a, &bytes, &files);
	assert_true(bytes == 1ULL << 40);
	assert_int_equal(files, 1);
	account_leave(f->reg, a);
}

/* A quota that appears after the first login (users.ini reloaded) makes
 * the next join measure the home once; later joins do not measure again. */
static void
test_quota_appears_later(void **state)
{
	struct fixture *f = *state;
	struct account *a = NULL, *b = NULL, *c = NULL;
	uint64_t bytes, files;

	assert_int_equal(
	    account_join(f->reg, "lee", 0, 0, 0, f->root, &a), ACCOUNT_OK);
	usage(a, &bytes, &files);
	assert_int_equal(bytes, 0);
	assert_int_equal(
	    account_join(f->reg, "lee", 0, HOME_BYTES + 10, 0, f->root, &b),
	    ACCOUNT_OK);
	assert_ptr_equal(a, b);
	usage(a, &bytes, &files);
	assert_int_equal(bytes, HOME_BYTES);
	assert_int_equal(files, HOME_ENTRIES);
	/* the new limit applies to every session of the account */
	assert_int_equal(account_add_bytes(a, 11, 0), -1);
	assert_int_equal(account_add_bytes(a, 10, 0), 0);
	assert_int_equal(
	    account_join(f->reg, "lee", 0, HOME_BYTES + 10, 0, f->root, &c),
	    ACCOUNT_OK);
	usage(c, &bytes, &files);
	assert_int_equal(bytes, HOME_BYTES + 10);
	account_leave(f->reg, c);
	account_leave(f->reg, b);
	account_leave(f->reg, a);
}

/* Only the first join measures: the second shares the live numbers. */
static void
test_join_shares_account(void **state)
{
	struct fixture *f = *state;
	struct account *a = NULL, *b = NULL;
	uint64_t bytes, files;

	assert_int_equal(
	    account_join(f->reg, "carol", 0, 1000, 0, f->root, &a), ACCOUNT_OK);
	/* An upload's piece: charged, written, told written (transfer.c) */
	assert_int_equal(account_add_bytes(a, 70, 0), 0);
	assert_int_equal(put_file(f->dir, "up.bin", 70), 0);
	account_written(a, 70);
	assert_int_equal(
	    account_join(f->reg, "carol", 0, 1000, 0, f->root, &b), ACCOUNT_OK);
	assert_ptr_equal(a, b);
	usage(b, &bytes, &files);
	assert_int_equal(bytes, HOME_BYTES + 70);
	/* another user is another account, of the same home's usage (two
	 * accounts on one folder cannot together fill it past a quota),
	 * counted again at its first login */
	{
		struct account *d = NULL;

		assert_int_equal(
		    account_join(f->reg, "dave", 0, 1000, 0, f->root, &d),
		    ACCOUNT_OK);
		assert_ptr_not_equal(d, a);
		usage(d, &bytes, &files);
		assert_int_equal(bytes, HOME_BYTES + 70);
		assert_int_equal(
		    account_add_bytes(d, 1000 - HOME_BYTES - 70, 0), 0);
		assert_int_equal(account_add_bytes(a, 1, 0), -1);
		account_leave(f->reg, d);
	}
	/* after one leave the other still sees the numbers */
	account_leave(f->reg, a);
	usage(b, &bytes, &files);
	assert_int_equal(bytes, 1000);
	account_leave(f->reg, b);
}

/* A reload moves alice to another home while a session of hers is open:
 * the next session counts the new home, not the old one's usage (an
 * upload of 512 KiB into a home already 4x over its quota got 226, found
 * from outside; the other way an empty home got 552). The open session
 * keeps the old home's account; max_sessions spans both. */
static void
test_moved_home_gets_its_own_count(void **state)
{
	struct fixture *f = *state;
	struct account *a = NULL, *b = NULL, *c = NULL;
	char other[PATH_MAX + 16];
	uint64_t bytes, files;
	int root2;

	snprintf(other, sizeof(other), "%s/sub", f->dir);
	root2 = open(other, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(root2 >= 0);
	assert_int_equal(
	    account_join(f->reg, "kim", 2, 1000, 0, f->root, &a), ACCOUNT_OK);
	usage(a, &bytes, &files);
	assert_int_equal(bytes, HOME_BYTES);
	assert_int_equal(
	    account_join(f->reg, "kim", 2, 1000, 0, root2, &b), ACCOUNT_OK);
	assert_ptr_not_equal(a, b);
	usage(b, &bytes, &files);
	assert_int_equal(bytes, 7);
	assert_int_equal(files, 1);
	/* Two sessions in two homes: max_sessions 2 is reached. */
	assert_int_equal(account_join(f->reg, "kim", 2, 1000, 0, root2, &c),
	    ACCOUNT_TOO_MANY);
	/* The same home again shares its account. */
	assert_int_equal(
	    account_join(f->reg, "kim", 3, 1000, 0, root2, &c), ACCOUNT_OK);
	assert_ptr_equal(b, c);
	account_leave(f->reg, c);
	account_leave(f->reg, b);
	account_leave(f->reg, a);
	close(root2);
}

static void
test_max_sessions(void **state)
{
	struct fixture *f = *state;
	struct account *a = NULL, *b = NULL, *c = NULL;

	assert_int_equal(
	    account_join(f->reg, "erin", 1, 0, 0, f->root, &a), ACCOUNT_OK);
	b = NULL;
	assert_int_equal(account_join(f->reg, "erin", 1, 0, 0, f->root, &b),
	    ACCOUNT_TOO_MANY);
	assert_null(b);
	/* a refused join took no reference: one leave frees the slot */
	account_leave(f->reg, a);
	assert_int_equal(
	    account_join(f->reg, "erin", 1, 0, 0, f->root, &b), ACCOUNT_OK);
	account_leave(f->reg, b);

	/* max 2: two in, the third out */
	assert_int_equal(
	    account_join(f->reg, "erin", 2, 0, 0, f->root, &a), ACCOUNT_OK);
	assert_int_equal(
	    account_join(f->reg, "erin", 2, 0, 0, f->root, &b), ACCOUNT_OK);
	assert_int_equal(account_join(f->reg, "erin", 2, 0, 0, f->root, &c),
	    ACCOUNT_TOO_MANY);
	/* 0 = unlimited */
	assert_int_equal(
	    account_join(f->reg, "erin", 0, 0, 0, f->root, &c), ACCOUNT_OK);
	account_leave(f->reg, c);
	account_leave(f->reg, b);
	account_leave(f->reg, a);
}

static void
test_add_bytes_limit(void **state)
{
	struct fixture *f = *state;
	struct account *a = NULL;
	uint64_t bytes, files;

	/* 130 used of 200: 70 left */
	assert_int_equal(
	    account_join(f->reg, "fay", 0, 200, 0, f->root, &a), ACCOUNT_OK);
	assert_int_equal(account_add_bytes(a, 71, 0), -1);
	usage(a, &bytes, &files);
	assert_int_equal(bytes, HOME_BYTES); /* a refusal counts nothing */
	assert_int_equal(account_add_bytes(a, 69, 0), 0);
	assert_int_equal(account_add_bytes(a, 2, 0), -1);
	assert_int_equal(account_add_bytes(a, 1, 0), 0);
	usage(a, &bytes, &files);
	assert_int_equal(bytes, 200);
	assert_int_equal(account_add_bytes(a, 1, 0), -1);
	assert_int_equal(account_add_bytes(a, 0, 0), 0);
	assert_int_equal(account_add_bytes(a, UINT64_MAX, 0), -1);
	usage(a, &bytes, &files);
	assert_int_equal(bytes, 200);
	/* no files quota: files are free */
	assert_int_equal(account_add_file(a, 0), 0);
	usage(a, &bytes, &files);
	assert_int_equal(files, HOME_ENTRIES + 1);
	account_leave(f->reg, a);
}

static void
test_add_file_limit(void **state)
{
	struct fixture *f = *state;
	struct account *a = NULL;
	uint64_t bytes, files;

	/* 5 entries there (3 files, 2 folders), limit 7 */
	assert_int_equal(
	    account_join(f->reg, "gus", 0, 0, 7, f->root, &a), ACCOUNT_OK);
	assert_int_equal(account_add_file(a, 0), 0);
	assert_int_equal(account_add_file(a, 0), 0);
	assert_int_equal(account_add_file(a, 0), -1);
	usage(a, &bytes, &files);
	assert_int_equal(files, 7);
	/* no bytes quota */
	assert_int_equal(account_add_bytes(a, 1ULL << 50, 0), 0);
	account_leave(f->reg, a);

	/* a home already over its limit refuses the next file */
	assert_int_equal(
	    account_join(f->reg, "gus", 0, 0, 2, f->root, &a), ACCOUNT_OK);
	assert_int_equal(account_add_file(a, 0), -1);
	account_leave(f->reg, a);
}

static void
test_account_sub(void **state)
{
	struct fixture *f = *state;
	struct account *a = NULL;
	uint64_t bytes, files;

	assert_int_equal(
	    account_join(f->reg, "hal", 0, 200, 5, f->root, &a), ACCOUNT_OK);
	assert_int_equal(account_add_bytes(a, 70, 0), 0);
	assert_int_equal(account_add_bytes(a, 1, 0), -1);
	/* a delete makes room again */
	account_sub(a, 100, 1);
	usage(a, &bytes, &files);
	assert_int_equal(bytes, 100);
	assert_int_equal(files, HOME_ENTRIES - 1);
	assert_int_equal(account_add_bytes(a, 100, 0), 0);
	assert_int_equal(account_add_bytes(a, 1, 0), -1);
	/* removing more than counted (files deleted by other means) stops at
	 * zero */
	account_sub(a, UINT64_MAX, 1000);
	usage(a, &bytes, &files);
	assert_int_equal(bytes, 0);
	assert_int_equal(files, 0);
	assert_int_equal(account_add_bytes(a, 200, 0), 0);
	account_leave(f->reg, a);
}

/* The last leave drops the account: the next join starts afresh and
 * measures the home again. */
static void
test_leave_drops_account(void **state)
{
	struct fixture *f = *state;
	struct account *a = NULL, *b = NULL;
	uint64_t bytes, files;

	assert_int_equal(
	    account_join(f->reg, "ivy", 0, 1000, 0, f->root, &a), ACCOUNT_OK);
	assert_int_equal(
	    account_join(f->reg, "ivy", 0, 1000, 0, f->root, &b), ACCOUNT_OK);
	assert_int_equal(account_add_bytes(a, 500, 0), 0);
	account_leave(f->reg, a);
	usage(b, &bytes, &files);
	assert_int_equal(bytes, HOME_BYTES + 500);
	account_leave(f->reg, b);

	/* the 500 reserved bytes were never written: the fresh measurement
	 * does not count them */
	assert_int_equal(
	    account_join(f->reg, "ivy", 0, 1000, 0, f->root, &a), ACCOUNT_OK);
	usage(a, &bytes, &files);
	assert_int_equal(bytes, HOME_BYTES);
	assert_int_equal(files, HOME_ENTRIES);
	account_leave(f->reg, a);
}

/* A later join brings the limits of a reloaded users.ini: newest wins. */
static void
test_join_updates_limits(void **state)
{
	struct fixture *f = *state;
	struct account *a = NULL, *b = NULL;

	assert_int_equal(
	    account_join(f->reg, "jo", 0, 1000, 0, f->root, &a), ACCOUNT_OK);
	assert_int_equal(account_add_bytes(a, 500, 0), 0);
	assert_int_equal(
	    account_join(f->reg, "jo", 0, 700, 0, f->root, &b), ACCOUNT_OK);
	/* 630 used of 700 now */
	assert_int_equal(account_add_bytes(a, 71, 0), -1);
	assert_int_equal(account_add_bytes(a, 70, 0), 0);
	account_leave(f->reg, b);
	account_leave(f->reg, a);
}

/* --- concurrency --------------------------------------------------------- */

#define RACE_THREADS 8
#define RACE_TRIES   5000 /* per thread: 40000 tries for 10000 bytes */
#define RACE_QUOTA   10000

struct racer {
	struct account *a;
	pthread_barrier_t *go;
	uint64_t granted;
};

static void *
race(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	for (int i = 0; i < RACE_TRIES; i++)
		if (account_add_bytes(r->a, 1, 0) == 0)
			r->granted++;
	return NULL;
}

static void
test_concurrent_reservations(void **state)
{
	struct fixture *f = *state;
	struct racer racers[RACE_THREADS];
	pthread_t th[RACE_THREADS];
	pthread_barrier_t go;
	struct account *a = NULL;
	uint64_t total = 0, bytes, files;
	int round;

	/* Each thread joins as its own session; repeat a few rounds to give a
	 * race a chance to show. */
	for (round = 0; round < 5; round++) {
		struct account *s[RACE_THREADS];

		assert_int_equal(account_join(f->reg, "kim", 0,
		                     HOME_BYTES + RACE_QUOTA, 0, f->root, &a),
		    ACCOUNT_OK);
		assert_int_equal(
		    pthread_barrier_init(&go, NULL, RACE_THREADS), 0);
		for (int i = 0; i < RACE_THREADS; i++) {
			assert_int_equal(
			    account_join(f->reg, "kim", 0,
			        HOME_BYTES + RACE_QUOTA, 0, f->root, &s[i]),
			    ACCOUNT_OK);
			racers[i].a = s[i];
			racers[i].go = &go;
			racers[i].granted = 0;
			assert_int_equal(
			    pthread_create(&th[i], NULL, race, &racers[i]), 0);
		}
		total = 0;
		for (int i = 0; i < RACE_THREADS; i++) {
			assert_int_equal(pthread_join(th[i], NULL), 0);
			total += racers[i].granted;
			account_leave(f->reg, s[i]);
		}
		pthread_barrier_destroy(&go);
		if (total != RACE_QUOTA)
			fail_msg("round %d: %llu bytes granted for a quota of "
			         "%d",
			    round, (unsigned long long)total, RACE_QUOTA);
		usage(a, &bytes, &files);
		assert_int_equal(bytes, HOME_BYTES + RACE_QUOTA);
		account_leave(f->reg, a);
	}
}

/* A login counting the home while a block is charged and not yet written
 * (the receive loop between account_add_bytes and its write): the count
 * waits for the write, so the usage ends as the disk. It began at once and
 * missed the block, which then stayed missing from the usage (found from
 * outside: up to 1 MiB per upload under way). */
struct counter {
	struct accounts *reg;
	int root;
	struct account *a;
	_Atomic int done;
};

static void *
count_in_thread(void *arg)
{
	struct counter *c = arg;

	if (account_join(c->reg, "mo", 0, 1 << 20, 0, c->root, &c->a) !=
	    ACCOUNT_OK)
		c->a = NULL;
	atomic_store(&c->done, 1);
	return NULL;
}

static void
test_count_waits_for_charged_writes(void **state)
{
	struct fixture *f = *state;
	struct counter c = { .reg = f->reg, .root = f->root };
	struct account *a = NULL;
	char block[100];
	pthread_t th;
	uint64_t bytes, files;

	/* No quota yet: nothing counted; then a block is charged. */
	assert_int_equal(
	    account_join(f->reg, "mo", 0, 0, 0, f->root, &a), ACCOUNT_OK);
	assert_int_equal(account_add_bytes(a, sizeof(block), 0), 0);
	/* A quota appears (a reload): the next login counts. */
	assert_int_equal(pthread_create(&th, NULL, count_in_thread, &c), 0);
	/* Let a count that does not wait finish before the write, as it
	 * did (bounded: 200 ms); one that waits is still waiting. */
	for (int i = 0; i < 200 && !atomic_load(&c.done); i++)
		usleep(1000);
	assert_false(atomic_load(&c.done));
	memset(block, 'w', sizeof(block));
	assert_int_equal(
	    fixture_write(f->dir, "new.bin", block, sizeof(block), NULL, 0), 0);
	account_written(a, sizeof(block));
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_non_null(c.a);
	usage(a, &bytes, &files);
	assert_int_equal(bytes, HOME_BYTES + sizeof(block));
	assert_int_equal(files, HOME_ENTRIES + 1);
	account_leave(f->reg, c.a);
	account_leave(f->reg, a);
}

/* An upload that replaces a file may use the room that file will release:
 * the check is against limit + credit, never beyond. */
static void
test_credit_for_replaced_file(void **state)
{
	struct fixture *f = *state;
	struct account *a = NULL;
	uint64_t bytes, files;

	/* HOME_BYTES used of HOME_BYTES + 10; replacing a 50-byte file. */
	assert_int_equal(
	    account_join(f->reg, "cid", 0, HOME_BYTES + 10, 3, f->root, &a),
	    ACCOUNT_OK);
	assert_int_equal(account_add_bytes(a, 61, 50), -1);
	assert_int_equal(account_add_bytes(a, 60, 50), 0);
	assert_int_equal(account_add_bytes(a, 1, 50), -1);
	/* the rename releases the replaced file: back within the limit */
	account_sub(a, 50, 1);
	usage(a, &bytes, &files);
	assert_int_equal(bytes, HOME_BYTES + 10);
	/* files: 3 allowed; a replacement does not need a free slot */
	account_sub(a, 0, files);
	assert_int_equal(account_add_file(a, 0), 0);
	assert_int_equal(account_add_file(a, 0), 0);
	assert_int_equal(account_add_file(a, 0), 0);
	assert_int_equal(account_add_file(a, 0), -1);
	assert_int_equal(account_add_file(a, 1), 0);
	assert_int_equal(account_add_file(a, 1), -1);
	/* unlimited stays unlimited whatever the credit */
	account_leave(f->reg, a);
	assert_int_equal(
	    account_join(f->reg, "dee", 0, 0, 0, f->root, &a), ACCOUNT_OK);
	assert_int_equal(account_add_bytes(a, UINT64_MAX / 2, UINT64_MAX), 0);
	account_leave(f->reg, a);
}

/* --- the login count (fs_usage) ------------------------------------------ */

#define DEEP_LEVELS 300 /* past the old walk's 256 */
#define DEEP_NAME   "level-with-a-name-of-forty-characters-xx"

/* Makes DEEP_LEVELS nested folders under dir/deep, each DEEP_NAME, with a
 * 77-byte file at the bottom: deeper than 256 levels and a path of over
 * 12,000 bytes, built through relative descriptors. */
static void
make_deep(const char *dir)
{
	char data[77];
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), next, file;

	assert_true(fd >= 0);
	assert_int_equal(mkdirat(fd, "deep", 0700), 0);
	next = openat(fd, "deep", O_PATH | O_DIRECTORY | O_CLOEXEC);
	close(fd);
	fd = next;
	for (int i = 0; i < DEEP_LEVELS; i++) {
		assert_true(fd >= 0);
		assert_int_equal(mkdirat(fd, DEEP_NAME, 0700), 0);
		next = openat(fd, DEEP_NAME, O_PATH | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		fd = next;
	}
	assert_true(fd >= 0);
	memset(data, 'd', sizeof(data));
	file = openat(fd, "bottom.bin", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(file >= 0);
	assert_int_equal(write(file, data, sizeof(data)), sizeof(data));
	close(file);
	close(fd);
}

/* nftw cannot remove what is deeper than PATH_MAX: undo make_deep by
 * descriptors, bottom up. */
static void
remove_deep(const char *dir)
{
	int fds[DEEP_LEVELS + 2];

	fds[0] = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	fds[1] = openat(fds[0], "deep", O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (int i = 1; i <= DEEP_LEVELS; i++)
		fds[i + 1] =
		    openat(fds[i], DEEP_NAME, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(unlinkat(fds[DEEP_LEVELS + 1], "bottom.bin", 0), 0);
	for (int i = DEEP_LEVELS + 1; i >= 1; i--) {
		close(fds[i]);
		assert_int_equal(unlinkat(fds[i - 1],
		                     i == 1 ? "deep" : DEEP_NAME, AT_REMOVEDIR),
		    0);
	}
	close(fds[0]);
}

/* Depth and path length hide nothing: every level is counted, folders
 * included; and a login counts the same. */
static void
test_usage_counts_deep_nesting(void **state)
{
	struct fixture *f = *state;
	struct fs_usage u;
	struct account *a = NULL;
	uint64_t bytes, files;
	char why[256];

	make_deep(f->dir);
	assert_int_equal(
	    fs_usage(f->root, 1000000, 100000, &u, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	assert_int_equal(u.bytes, HOME_BYTES + 77);
	assert_int_equal(u.files, 3 + 1);
	assert_int_equal(u.folders, 2 + 1 + DEEP_LEVELS);
	assert_int_equal(
	    account_join(f->reg, "deb", 0, 1000, 0, f->root, &a), ACCOUNT_OK);
	usage(a, &bytes, &files);
	assert_int_equal(bytes, HOME_BYTES + 77);
	assert_int_equal(files, HOME_ENTRIES + 2 + DEEP_LEVELS);
	assert_int_equal(account_known(a, why, sizeof(why)), 0);
	account_leave(f->reg, a);
	remove_deep(f->dir);
}

/* Past its budget the count fails closed and says where. */
static void
test_usage_budgets_fail_closed(void **state)
{
	struct fixture *f = *state;
	struct fs_usage u;
	char why[256], tiny[8];

	assert_int_equal(fs_usage(f->root, 1000, 0, &u, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "deeper than the count allows"));
	assert_true(strstr(why, "/sub") != NULL || strstr(why, "/empty"));
	assert_int_equal(fs_usage(f->root, 3, 1000, &u, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "more entries than the count allows"));
	/* the reason is cut, never unterminated */
	assert_int_equal(
	    fs_usage(f->root, 3, 1000, &u, tiny, sizeof(tiny)), -1);
	assert_true(strlen(tiny) < sizeof(tiny));
	/* exactly the budget is enough: 5 entries at the top, 1 in sub */
	assert_int_equal(fs_usage(f->root, 6, 1, &u, why, sizeof(why)), 0);
	assert_int_equal(u.bytes, HOME_BYTES);
}

static int
publish(struct account *a, uint64_t partial, uint64_t credit,
    uint64_t credit_entries, uint64_t replaced, uint64_t replaced_entries)
{
	struct publish p = { partial, credit, credit_entries, replaced,
		replaced_entries };

	return account_publish_fits(a, &p);
}

/* Publishing checks the outcome under the names lock, not the forecast
 * credit: a replaced file that went away gives no room. */
static void
test_publish_fits(void **state)
{
	struct fixture *f = *state;
	struct account *a = NULL;

	assert_int_equal(
	    account_join(f->reg, "pia", 0, HOME_BYTES + 100, 0, f->root, &a),
	    ACCOUNT_OK);
	/* a 100-byte partial, nothing replaced: exactly at the limit */
	assert_int_equal(account_add_bytes(a, 100, 0), 0);
	assert_int_equal(publish(a, 100, 0, 0, 0, 0), 0);
	/* 50 more on the credit of a 50-byte file it replaces */
	assert_int_equal(account_add_bytes(a, 50, 50), 0);
	assert_int_equal(publish(a, 50, 50, 1, 50, 1), 0);
	/* a bigger file there now releases more than assumed */
	assert_int_equal(publish(a, 50, 50, 1, 80, 1), 0);
	/* the same upload after another session deleted that file */
	assert_int_equal(publish(a, 50, 50, 1, 0, 0), -1);
	/* or replaced it by a smaller one */
	assert_int_equal(publish(a, 50, 50, 1, 49, 1), -1);
	/* within the limit anyway once the replaced file goes: fine even
	 * though the credit did not come true */
	account_sub(a, 60, 0);
	assert_int_equal(publish(a, 50, 50, 1, 0, 0), 0);
	account_leave(f->reg, a);

	/* a home already over a lowered quota may shrink, not grow */
	assert_int_equal(
	    account_join(f->reg, "pia", 0, 10, 3, f->root, &a), ACCOUNT_OK);
	assert_int_equal(publish(a, 5, 30, 1, 20, 1), 0);
	assert_int_equal(publish(a, 25, 30, 1, 20, 1), -1);
	/* over the entries quota: a new name that was not credited is
	 * refused, a replacement keeps the count */
	assert_int_equal(publish(a, 0, 0, 1, 0, 0), -1);
	assert_int_equal(publish(a, 0, 0, 1, 0, 1), 0);
	account_leave(f->reg, a);
}

/* The per-folder cap counts names, partials included, and only up to
 * the cap. */
static void
test_folder_room(void **state)
{
	struct fixture *f = *state;
	uint64_t n;

	/* a.bin b.txt sub link empty */
	assert_int_equal(fs_count_entries(f->root, 0, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(fs_count_entries(f->root, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(quota_folder_has_room(NULL, f->root, 0, NULL), 0);
	assert_int_equal(quota_folder_has_room(NULL, f->root, 6, NULL), 0);
	errno = 0;
	assert_int_equal(quota_folder_has_room(NULL, f->root, 5, NULL), -1);
	assert_int_equal(errno, EDQUOT);
	assert_int_equal(quota_folder_has_room(NULL, f->root, 1, NULL), -1);
	assert_int_equal(put_file(f->dir, ".rftpd-partial.x", 1), 0);
	assert_int_equal(quota_folder_has_room(NULL, f->root, 6, NULL), -1);
}

/*
 * The count an account keeps per folder: the account's own changes move
 * it without reading the folder; a change by anyone else (the ctime moves)
 * makes the next check read it again; so do RFTP_FOLDER_SEEN_UPDATES
 * changes of our own; a full folder is never kept as a count; more
 * folders than RFTP_FOLDERS_SEEN push the oldest out. A "change" told
 * without one shows which answers come from the count kept.
 */
static void
test_folder_count_kept(void **state)
{
	struct fixture *f = *state;
	struct folder_mark m;
	struct account *a;
	int fd = openat(f->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(
	    account_join(f->reg, "alice", 0, 0, 0, f->root, &a), ACCOUNT_OK);
	/* 5 entries; a cap of 7 (the size bound of a folder is far above
	 * that, so the count decides). */
	assert_int_equal(quota_folder_has_room(a, fd, 7, &m), 0);
	assert_true(m.slot >= 0);
	assert_int_equal(put_file(f->dir, "new1", 1), 0);
	quota_folder_changed(a, fd, &m, 1);
	/* 6 kept, 6 there: room for one. A change told without one: 7
	 * kept, 6 there, and the kept count answers "full". */
	assert_int_equal(quota_folder_has_room(a, fd, 7, &m), 0);
	quota_folder_changed(a, fd, &m, 1);
	errno = 0;
	assert_int_equal(quota_folder_has_room(a, fd, 7, &m), -1);
	assert_int_equal(errno, EDQUOT);
	/* Someone else removes a name: the ctime moves, the folder is read
	 * again (5 there), and the count is right again. */
	assert_int_equal(unlinkat(fd, "new1", 0), 0);
	assert_int_equal(quota_folder_has_room(a, fd, 6, &m), 0);
	assert_int_equal(quota_folder_has_room(a, fd, 5, NULL), -1);
	/* A removal of ours: 4 kept (5 there), so a cap of 5 has room. */
	quota_folder_mark(a, fd, &m);
	assert_true(m.slot >= 0);
	quota_folder_changed(a, fd, &m, -1);
	assert_int_equal(quota_folder_has_room(a, fd, 5, NULL), 0);
	/* After RFTP_FOLDER_SEEN_UPDATES changes of ours the folder is read
	 * again: the count that drifted by one is 5 again. */
	for (int i = 0; i < RFTP_FOLDER_SEEN_UPDATES; i++) {
		quota_folder_mark(a, fd, &m);
		quota_folder_changed(a, fd, &m, 0);
	}
	assert_int_equal(quota_folder_has_room(a, fd, 5, NULL), -1);
	/* A full folder is not kept: once a name goes, there is room. */
	assert_int_equal(quota_folder_has_room(a, fd, 5, &m), -1);
	assert_true(m.slot < 0);
	/* More folders than are kept: each still answers right. */
	for (int i = 0; i < RFTP_FOLDERS_SEEN + 2; i++) {
		char name[16];
		int sub;

		snprintf(name, sizeof(name), "many%d", i);
		assert_int_equal(mkdirat(fd, name, 0700), 0);
		sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(sub >= 0);
		assert_int_equal(quota_folder_has_room(a, sub, 1, &m), 0);
		assert_int_equal(mkdirat(sub, "x", 0700), 0);
		quota_folder_changed(a, sub, &m, 1);
		assert_int_equal(quota_folder_has_room(a, sub, 1, NULL), -1);
		close(sub);
	}
	account_leave(f->reg, a);
	close(fd);
}

/*
 * fs_entries_bound: where it answers, it is never below the real count
 * (else quota_folder_has_room would let a full folder grow), with the
 * shortest names (the densest folder) and after removals; and the folder
 * cap holds exactly whether the bound or the count decides. base: a
 * folder on the filesystem to try.
 */
static void
check_bound_on(const char *base)
{
	char dir[PATH_MAX];
	uint64_t most, n = 0;
	int fd, bounded = 0;

	snprintf(dir, sizeof(dir), "%s/bound", base);
	assert_int_equal(mkdir(dir, 0700), 0);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	for (unsigned i = 0; i < 700; i++) {
		char name[8];

		/* "0".."9", "a".."z", then two characters: the fewest bytes
		 * an entry can take. */
		snprintf(name, sizeof(name), "%c%c",
		    "0123456789abcdefghijklmnopqrstuvwxyz"[i % 36],
		    i < 36 ? '\0' :
		             "0123456789abcdefghijklmnopqrstuvwxyz"[i / 36]);
		assert_int_equal(mkdirat(fd, name, 0700), 0);
		n++;
		if (fs_entries_bound(fd, &most) == 0) {
			bounded = 1;
			assert_true(most >= n);
		}
		if (i % 50 == 0 || i > 680) {
			assert_int_equal(
			    quota_folder_has_room(NULL, fd, n + 1, NULL), 0);
			errno = 0;
			assert_int_equal(
			    quota_folder_has_room(NULL, fd, n, NULL), -1);
			assert_int_equal(errno, EDQUOT);
		}
	}
	/* Removals: the size may stay, the bound stays above the count. */
	for (unsigned i = 0; i < 36; i++) {
		char name[2] = { "0123456789abcdefghijklmnopqrstuvwxyz"[i],
			'\0' };

		assert_int_equal(unlinkat(fd, name, AT_REMOVEDIR), 0);
		n--;
	}
	if (fs_entries_bound(fd, &most) == 0)
		assert_true(most >= n);
	assert_int_equal(quota_folder_has_room(NULL, fd, n + 1, NULL), 0);
	assert_int_equal(quota_folder_has_room(NULL, fd, n, NULL), -1);
	close(fd);
	/* Lest the test prove nothing where the suite runs: ext4 (/tmp
	 * here) and tmpfs both answer. */
	print_message("fs_entries_bound on %s: %s\n", base,
	    bounded ? "bounded" : "not known (counted)");
}

static void
test_folder_bound(void **state)
{
	struct fixture *f = *state;
	char shm[PATH_MAX];

	check_bound_on(f->dir);
	if (access("/dev/shm", W_OK) == 0) {
		snprintf(shm, sizeof(shm), "/dev/shm/rftp-unit-bound-%d",
		    (int)getpid());
		assert_int_equal(mkdir(shm, 0700), 0);
		check_bound_on(shm);
		assert_int_equal(fixture_rmtree(shm), 0);
	}
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quota_fits),
		cmocka_unit_test(test_quota_sub),
		T(test_join_measures_home),
		T(test_join_without_quota),
		T(test_quota_appears_later),
		T(test_join_shares_account),
		T(test_moved_home_gets_its_own_count),
		T(test_max_sessions),
		T(test_add_bytes_limit),
		T(test_add_file_limit),
		T(test_account_sub),
		T(test_leave_drops_account),
		T(test_join_updates_limits),
		T(test_concurrent_reservations),
		T(test_count_waits_for_charged_writes),
		T(test_credit_for_replaced_file),
		T(test_usage_counts_deep_nesting),
		T(test_usage_budgets_fail_closed),
		T(test_publish_fits),
		T(test_folder_room),
		T(test_folder_count_kept),
		T(test_folder_bound),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
