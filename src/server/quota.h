/*
 * quota.h - per-user live accounting shared by all of a user's sessions.
 *
 * Owns: the number of sessions each user has open and the bytes and files
 * their home holds, with the arithmetic that decides whether a write fits.
 * One account per logged-in user name, created at the first login (which
 * measures the home, so files put there by other means count) and dropped
 * when the last session ends. Every change happens under the account's
 * mutex, so concurrent uploads of one user cannot together pass the quota.
 */
#ifndef RFTP_QUOTA_H
#define RFTP_QUOTA_H

#include <stdint.h>

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
 * Joins a session to name's account, creating it (and measuring the home
 * through root when a quota is set) if this is the first session.
 * max_sessions 0 = unlimited. On ACCOUNT_OK *out holds a reference that
 * account_leave releases.
 */
enum account_err account_join(struct accounts *reg, const char *name,
    uint64_t max_sessions, uint64_t quota_bytes, uint64_t quota_files, int root,
    struct account **out);
void account_leave(struct accounts *reg, struct account *a);

/*
 * Reserve before writing; 0 if it fits (and is now counted), -1 if not.
 * credit is what the write will release when it completes (the size of the
 * file an upload replaces, which stays counted until then): the check is
 * against limit + credit, so replacing a file needs room only for the
 * difference, and the usage after the replacement is within the limit.
 */
int account_add_bytes(struct account *a, uint64_t n, uint64_t credit);
int account_add_file(struct account *a, uint64_t credit);
void account_sub(struct account *a, uint64_t bytes, uint64_t files);
void account_usage(struct account *a, uint64_t *bytes, uint64_t *files);

#endif
