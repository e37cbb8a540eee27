/*
 * metrics.h - GET /metrics: the Prometheus text exposition format 0.0.4.
 *
 * Owns: the metric names (relayftpd_...), their HELP text and types, and
 * writing them by hand (Debian has no maintained C client library). A
 * pure function of a snapshot, so a unit test checks the text exactly.
 */
#ifndef RFTP_ADMIN_METRICS_H
#define RFTP_ADMIN_METRICS_H

#include "admin/snapshot.h"
#include "common/buf.h"

/* The Content-Type of the text it writes. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends every family to out: 0, or -1 if out's cap was hit (out then
 * holds a cut text that must not be served). */
int metrics_render(const struct snapshot *s, struct buf *out);

#endif
