/*
 * target_diff.h - what differs between the targets of two loads of
 * relayftpd.ini (target_diff.c).
 *
 * Owns: naming the targets added, removed and changed (and which of their
 * settings), and a fingerprint of a target's settings that holds no
 * secret. Pure: reads two configs, writes text; never reads files.
 */
#ifndef RFTP_TARGET_DIFF_H
#define RFTP_TARGET_DIFF_H

#include "common/buf.h"
#include "common/config.h"

#include <stdint.h>

/*
 * Appends to out, one per line ending in '\n', what differs between the
 * targets of was (the config being served) and now (the file as it reads
 * now): "NAME added", "NAME removed", "NAME changed (url, password)".
 * Secrets are named, never shown. Returns the number of lines appended,
 * or -1 if out is full (what fitted is kept).
 */
int target_diff(
    const struct config *was, const struct config *now, struct buf *out);
/*
 * A fingerprint of t's settings, as 16 hex digits and a NUL in out (at
 * least 17 bytes). Secrets (password, passphrase, secret_key,
 * hook_secret, the password in url's userinfo, url's query and fragment)
 * are left out: it is stored in the queue, which other
 * programs read (`mirror status`), and a quick hash of a password is
 * easily reversed. Stable across processes and versions of the file
 * that keep t's settings.
 */
void target_fingerprint(
    const struct target_config *t, char *out, size_t outlen);

#endif
