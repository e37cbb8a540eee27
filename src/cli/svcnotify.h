/*
 * svcnotify.h - tells the service manager (systemd, Type=notify) where the
 * daemon is in its life: ready, reloading, stopping, and alive (the
 * watchdog's keep-alive).
 *
 * Owns: the one use of libsystemd (sd_notify(3)). Without $NOTIFY_SOCKET
 * (started by hand, by a test or another supervisor) every call does
 * nothing. A failure to notify is logged at debug level and never stops
 * the server: systemd then times the start out and says so itself.
 */
#ifndef RFTP_SVCNOTIFY_H
#define RFTP_SVCNOTIFY_H

/* Every listener is bound and root is dropped: "READY=1". */
void svcnotify_ready(void);
/* A reload (SIGHUP) begins: "RELOADING=1" with MONOTONIC_USEC, the
 * CLOCK_MONOTONIC time it began, as systemd.service(5) asks for; call
 * svcnotify_reloaded when it is done. */
void svcnotify_reloading(void);
/* A reload ended: "READY=1", with a STATUS= saying whether the users
 * file was taken (ok) or refused, the last good set still served, and
 * note after it (what the reload did not apply; "" for nothing). */
void svcnotify_reloaded(int ok, const char *note);
/* Shutdown begins: "STOPPING=1". */
void svcnotify_stopping(void);
/* The watchdog interval systemd asks for (WatchdogSec=, passed as
 * $WATCHDOG_USEC to this process), in microseconds, or 0 when none. */
unsigned long long svcnotify_watchdog_usec(void);
/* "WATCHDOG=1": the daemon's main thread still answers. */
void svcnotify_watchdog(void);

#endif
