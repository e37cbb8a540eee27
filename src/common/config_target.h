/*
 * config_target.h - the [target:NAME] sections of relayftpd.ini, for
 * config.c only (the public API stays in config.h).
 *
 * Owns: target names, the per-target key table, the secrets and files the
 * keys name, and the rules that span a target's keys (checked once the
 * whole file is read, since keys may come in any order).
 */
#ifndef RFTP_CONFIG_TARGET_H
#define RFTP_CONFIG_TARGET_H

#include "common/buf.h"
#include "common/config.h"

/* The characters of a system user or target name (targets add '@'). */
#define CONFIG_NAME_CHARS                                                \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" \
	"_-."

/*
 * One line of a [target:NAME] section: the header (key NULL) or a key.
 * Relative paths resolve against cfg->dir. Problems are appended to errs
 * naming cfg->path and lineno; returns how many were reported.
 */
int config_target_line(struct config *cfg, struct buf *errs, int lineno,
    const char *name, const char *key, const char *value);
/* The rules spanning keys, for every target; returns the problems reported. */
int config_targets_check(const struct config *cfg, struct buf *errs);

#endif
