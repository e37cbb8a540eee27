/*
 * quota.c - see quota.h. Accounts live in a small list under one registry
 * mutex (joins and leaves are rare); byte accounting takes only the
 * account's own mutex, once per transfer chunk.
 */
#include "server/quota.h"

#include "common/limits.h"
#include "common/log.h"
#include "common/fsgate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct account {
	struct account *next;
	char name[RFTP_USER_MAX + 1];
	unsigned sessions;
	pthread_mutex_t lock;
	uint64_t used_bytes, used_files;
	uint64_t quota_bytes, quota_files;
	int measured; /* usage was read from the disk */
};

struct accounts {
	pthread_mutex_t lock;
	struct account *head;
};

int
quota_fits(uint64_t used, uint64_t add, uint64_t limit)
{
	if (limit == 0)
		return 1;
	return add <= limit && used <= limit - add;
}

uint64_t
quota_sub(uint64_t used, uint64_t sub)
{
	return sub > used ? 0 : used - sub;
}

struct accounts *
accounts_new(void)
{
	struct accounts *reg = calloc(1, sizeof(*reg));

	if (reg != NULL)
		pthread_mutex_init(&reg->lock, NULL);
	return reg;
}

void
accounts_free(struct accounts *reg)
{
	if (reg == NULL)
		return;
	while (reg->head != NULL) {
		struct account *a = reg->head;

		reg->head = a->next;
		pthread_mutex_destroy(&a->lock);
		free(a);
	}
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

static void
measure(struct account *a, int root)
{
	uint64_t bytes, files;

	if (fs_usage(root, &bytes, &files) < 0) {
		log_warn("cannot measure the home of %s; quota counts from "
		         "zero",
		    a->name);
		return;
	}
	a->used_bytes = bytes;
	a->used_files = files;
	a->measured = 1;
}

enum account_err
account_join(struct accounts *reg, const char *name, uint64_t max_sessions,
    uint64_t quota_bytes, uint64_t quota_files, int root, struct account **out)
{
	struct account *a;

	pthread_mutex_lock(&reg->lock);
	for (a = reg->head; a != NULL; a = a->next)
		if (strcmp(a->name, name) == 0)
			break;
	if (a != NULL) {
		if (max_sessions != 0 && a->sessions >= max_sessions) {
			pthread_mutex_unlock(&reg->lock);
			return ACCOUNT_TOO_MANY;
		}
		a->sessions++;
		/* A reload may have changed the limits: newest wins, and a
		 * quota that appeared since the first login needs the real
		 * usage. */
		pthread_mutex_lock(&a->lock);
		a->quota_bytes = quota_bytes;
		a->quota_files = quota_files;
		if (!a->measured && (quota_bytes != 0 || quota_files != 0))
			measure(a, root);
		pthread_mutex_unlock(&a->lock);
		pthread_mutex_unlock(&reg->lock);
		*out = a;
		return ACCOUNT_OK;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		pthread_mutex_unlock(&reg->lock);
		return ACCOUNT_NOMEM;
	}
	snprintf(a->name, sizeof(a->name), "%s", name);
	pthread_mutex_init(&a->lock, NULL);
	a->sessions = 1;
	a->quota_bytes = quota_bytes;
	a->quota_files = quota_files;
	/* Measured under the registry lock so a second login of the same user
	 * waits for the numbers instead of starting from zero. */
	if (quota_bytes != 0 || quota_files != 0)
		measure(a, root);
	a->next = reg->head;
	reg->head = a;
	pthread_mutex_unlock(&reg->lock);
	*out = a;
	return ACCOUNT_OK;
}

void
account_leave(struct accounts *reg, struct account *a)
{
	struct account **pp;

	pthread_mutex_lock(&reg->lock);
	if (--a->sessions == 0) {
		for (pp = &reg->head; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == a) {
				*pp = a->next;
				break;
			}
		}
		pthread_mutex_destroy(&a->lock);
		free(a);
	}
	pthread_mutex_unlock(&reg->lock);
}

/* limit + credit, keeping 0 = unlimited and saturating. */
static uint64_t
with_credit(uint64_t limit, uint64_t credit)
{
	if (limit == 0)
		return 0;
	return credit > UINT64_MAX - limit ? UINT64_MAX : limit + credit;
}

int
account_add_bytes(struct account *a, uint64_t n, uint64_t credit)
{
	int rc = -1;

	pthread_mutex_lock(&a->lock);
	if (quota_fits(a->used_bytes, n, with_credit(a->quota_bytes, credit))) {
		a->used_bytes += n;
		rc = 0;
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int
account_add_file(struct account *a, uint64_t credit)
{
	int rc = -1;

	pthread_mutex_lock(&a->lock);
	if (quota_fits(a->used_files, 1, with_credit(a->quota_files, credit))) {
		a->used_files++;
		rc = 0;
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

void
account_sub(struct account *a, uint64_t bytes, uint64_t files)
{
	pthread_mutex_lock(&a->lock);
	a->used_bytes = quota_sub(a->used_bytes, bytes);
	a->used_files = quota_sub(a->used_files, files);
	pthread_mutex_unlock(&a->lock);
}

void
account_usage(struct account *a, uint64_t *bytes, uint64_t *files)
{
	pthread_mutex_lock(&a->lock);
	*bytes = a->used_bytes;
	*files = a->used_files;
	pthread_mutex_unlock(&a->lock);
}
