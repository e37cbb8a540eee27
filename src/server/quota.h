/*
 * quota.h - per-user live accounting shared by all of a user's sessions.
 *
 * Owns: the number of sessions each user has open and the bytes and
 * entries (files and folders) their home holds, with the arithmetic that
 * decides whether a write fits, and the per-user lock that makes "look at
 * the name, change it, account for it" one step. One account per logged-in
 * user name, created at the first login (which counts the home, so files
 * put there by other means count) and dropped when the last session ends;
 * the usage it counts is the home's, shared by the accounts of every user
 * whose home is that folder (its device and inode).
 * Every counter change happens under the account's mutex, so concurrent
 * uploads of one user cannot together pass the quota.
 */
#ifndef RFTP_QUOTA_H
#define RFTP_QUOTA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Pure: whether used + add stays within limit (0 = unlimited). */
int quota_fits(uint64_t used, uint64_t add, uint64_t limit);
/* Pure: used - sub, never below zero (files removed by other means). */
uint64_t quota_sub(uint64_t used, uint64_t sub);

struct account;
struct accounts; /* the registry */

struct accounts *accounts_new(void);
void accounts_free(struct accounts *reg);

enum account_err {
	ACCOUNT_OK,
	ACCOUNT_TOO_MANY, /* max_sessions reached */
	ACCOUNT_NOMEM,
};

/*
 * Joins a session to the account of name and the home root opens (its
 * device and inode), creating it if this is the first such session: a
 * user moved to another home by a reload counts that home from the next
 * login on. max_sessions (0 = unlimited) counts the user's sessions in
 * all its homes. When a quota is set and the usage is
 * not known (first login, a quota added by a reload, or an earlier count
 * that failed), the home is counted through root (fs_usage) without the
 * registry lock held, so other users' logins never wait for it; another
 * login of the same user waits for that count instead of starting from
 * zero. A count that cannot see everything leaves the account refusing
 * writes (account_known) until a later login counts the home completely.
 * On ACCOUNT_OK *out holds a reference that account_leave releases.
 */
enum account_err account_join(struct accounts *reg, const char *name,
    uint64_t max_sessions, uint64_t quota_bytes, uint64_t quota_files, int root,
    struct account **out);
void account_leave(struct accounts *reg, struct account *a);

/*
 * 0 if writes may be checked against the quota (usage known, or no quota);
 * -1 if the last count of the home was incomplete, with its reason (which
 * names the folder) in why, cut to whylen.
 */
int account_known(struct account *a, char *why, size_t whylen);

/*
 * Reserve before writing; 0 if it fits (and is now counted), -1 if not
 * (also while account_known fails). credit is what the write will release
 * when it completes (the size of the file an upload replaces, which stays
 * counted until then): the check is against limit + credit, so replacing a
 * file needs room only for the difference. The credit is a forecast:
 * upload_commit checks the real outcome with account_publish_fits.
 * account_add_file counts one entry: a file, a partial or a folder.
 */
int account_add_bytes(struct account *a, uint64_t n, uint64_t credit);
/*
 * Once the bytes of a successful account_add_bytes reached the file (or
 * failed to: give back what did not with account_sub first), n being the
 * whole charge. A count of the home (at a login) waits for every charge to
 * be written: a block charged before the count and written during it was
 * seen or not by chance, and the count replaces the usage.
 */
void account_written(struct account *a, uint64_t n);
int account_add_file(struct account *a, uint64_t credit);
void account_sub(struct account *a, uint64_t bytes, uint64_t files);
/*
 * The entry of a replace's partial (credit 1, as account_add_file(a, 1)):
 * 0 if it fits within quota_files + 1; 1 if it does not (the home is past
 * quota_files: a reload lowered it) and no other replace of the home is
 * under way: the replace ends with no more names than now, and its
 * partial is the one name more on disk meanwhile; -1 refused. The entry
 * is counted either way; a 0 or a 1 is ended with account_replace_end
 * once the partial is gone (published or removed), whatever else is
 * released.
 */
int account_add_replace(struct account *a);
void account_replace_end(struct account *a);
void account_usage(struct account *a, uint64_t *bytes, uint64_t *files);
/* How far the usage is over quota_bytes and quota_files (0: within, or
 * no such quota). */
void account_excess(struct account *a, uint64_t *bytes, uint64_t *files);

/*
 * The names lock: held around "stat the name, change it, account for what
 * was there" (publishing an upload, DELE, RNTO, MKD and the per-folder
 * entry check), so two sessions of one user never both account for the
 * same file (a replace racing a delete would otherwise release its bytes
 * twice, or credit a file that is already gone). Taken before the counters'
 * mutex, never inside it. NULL is allowed (no account: no-op).
 */
void account_names_lock(struct account *a);
void account_names_unlock(struct account *a);

/*
 * A publish about to happen: a partial (already counted, bytes and one
 * entry) renamed over what the name holds now.
 */
struct publish {
	uint64_t partial_bytes;
	/* What the upload's reservations assumed the rename would release
	 * (the replaced file as seen when the upload began). */
	uint64_t credit_bytes, credit_entries;
	/* What it will really release, looked at under the names lock. */
	uint64_t replaced_bytes, replaced_entries;
};

/*
 * Under the names lock, just before the rename: 0 if the publish may go
 * ahead: the credit came true (what is replaced is at least what the
 * reservations assumed, so they already kept the home within its limits),
 * or the usage after the rename is within the limits anyway, or it does
 * not grow. -1 if publishing would leave the home over quota (also while
 * account_known fails). It changes nothing; after the rename the caller
 * releases what was replaced with account_sub.
 */
int account_publish_fits(struct account *a, const struct publish *p);

/*
 * What an account last saw of a folder it changes (its entry count), so
 * that max_entries_per_folder does not read a big folder for every new
 * name: quota_folder_has_room and quota_folder_mark fill one in just
 * before a change, quota_folder_changed tells the account the change was
 * made. slot < 0: nothing known (the change then only makes the next
 * check count again).
 */
struct folder_mark {
	int slot;
	dev_t dev;
	ino_t ino;
	struct timespec ctime;
};

/*
 * Whether one more name fits in the folder dirfd (a gate-issued
 * descriptor) under a cap of max entries, partials included (users.ini
 * max_entries_per_folder; 0 = unlimited). The folder is read (at most max
 * entries) only when neither its size (fs_entries_bound) nor the count
 * the account keeps for it tells; that count holds while the folder's
 * ctime is the one seen after the account's own last change of it (any
 * other change moves the ctime), for at most RFTP_FOLDER_SEEN_UPDATES
 * changes. Call under the names lock, with the new name made before it is
 * released; a NULL account keeps nothing. Returns 0 if it fits, -1 with
 * errno (EDQUOT: the folder is full). mark (may be NULL) is for
 * quota_folder_changed.
 */
int quota_folder_has_room(
    struct account *a, int dirfd, uint64_t max, struct folder_mark *mark);
/* Under the names lock, just before a change of the folder dirfd that
 * quota_folder_has_room did not precede (a publish, a DELE). */
void quota_folder_mark(struct account *a, int dirfd, struct folder_mark *mark);
/* Under the names lock: the folder dirfd changed in a way not told to
 * quota_folder_changed (RNTO, RMD, a partial removed): its kept count is
 * dropped, and the next check reads the folder. Every change this account
 * makes goes through one of the two: a filesystem whose ctime is coarse
 * (ext2, or any before Linux 6.13) may not show a second change within
 * one clock tick. */
void quota_folder_forget(struct account *a, int dirfd);
/* The same for every folder (a folder that could not be opened to forget
 * it alone). */
void quota_folders_forget_all(struct account *a);
/* Under the names lock: whether the account keeps any folder's count
 * (else a forget has nothing to do, and its caller need open nothing). */
int quota_folders_kept(const struct account *a);
/*
 * Under the same hold of the names lock: the change marked was made in
 * the folder dirfd itself (an *at() call on it), and left it delta entries
 * more (-1, 0, 1). The count kept moves with it, and mark with the count
 * (a second change may follow).
 */
void quota_folder_changed(
    struct account *a, int dirfd, struct folder_mark *mark, int delta);

#endif
