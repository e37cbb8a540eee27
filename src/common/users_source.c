/*
 * users_source.c - a config's users: its users file or its built entries
 * (users_source.h).
 */
#include "common/users_source.h"

#include "common/inifile.h"

/* What a built config's messages call its users. */
#define USERS_BUILT_NAME "rftpd_config"

const char *
users_source_name(const struct config *cfg)
{
	return users_source_is_file(cfg) ? cfg->users_file : USERS_BUILT_NAME;
}

int
users_source_is_file(const struct config *cfg)
{
	return cfg->users_file[0] != '\0';
}

struct user_set *
users_source_load(const struct config *cfg, struct buf *errs)
{
	if (users_source_is_file(cfg))
		return users_set_load(cfg->users_file, errs);
	return users_set_from_entries(
	    USERS_BUILT_NAME, cfg->user_entries, cfg->nuser_entries, errs);
}

struct userdb *
users_source_open(const struct config *cfg, userdb_check_fn check,
    void *check_ctx, struct buf *errs)
{
	struct user_set *set;
	struct userdb *db;

	if (users_source_is_file(cfg))
		return userdb_open_checked(cfg->users_file,
		    cfg->password_cache_ttl, check, check_ctx, errs);
	set = users_source_load(cfg, errs);
	if (set == NULL)
		return NULL;
	if (check != NULL && check(check_ctx, set, errs) < 0) {
		users_set_free(set);
		return NULL;
	}
	db = userdb_open_set(set, cfg->password_cache_ttl, errs);
	if (db != NULL)
		userdb_set_check(db, check, check_ctx);
	return db;
}
