/*
 * admin.h - the admin HTTP listener ([admin] in relayftpd.ini).
 *
 * Owns: starting and stopping the listener that serves the status page,
 * GET /metrics, GET /api/status and POST /api/retry. It runs in a thread
 * of its own (libmicrohttpd's), reads the daemon's facts through
 * common/stats.h and common/mirror_view.h only, and never blocks an FTP
 * session or a push. An object, not a global: a process may run several.
 */
#ifndef RFTP_ADMIN_H
#define RFTP_ADMIN_H

#include "common/config.h"
#include "common/mirror_view.h"
#include "common/stats.h"

#include <stddef.h>

struct admin;

/*
 * Binds cfg->admin.listen (call it only when cfg->admin.enabled), reads
 * the cert/key PEM files and starts serving. st (not
 * NULL) must outlive the listener; mv is copied and may be NULL (no
 * mirror), as may its functions. Returns the listener, or NULL with a
 * reason in err.
 */
struct admin *admin_start(const struct config *cfg, struct stats *st,
    const struct mirror_view *mv, char *err, size_t errlen);
/* Whether the [admin] cert and key files (if set) load and belong
 * together, as `check` and the start ask: 0, or -1 with the reason in err
 * and the key to fix ("cert" or "key") in *key. */
int admin_check_tls(
    const struct admin_config *ac, const char **key, char *err, size_t errlen);
/* Stops serving (waits for requests being answered) and frees a; NULL is
 * a no-op. */
void admin_stop(struct admin *a);
/* The bound port (the real one when listen said 0); 0 for NULL. */
unsigned admin_port(const struct admin *a);
/* "http[s]://ADDR:PORT/": the configured host with the bound port, what
 * the daemon prints as "admin listening on URL"; "" for NULL. */
const char *admin_url(const struct admin *a);

#endif
