/*
 * svcnotify.c - see svcnotify.h. The only file that includes libsystemd:
 * sd_notify does the datagram protocol of sd_notify(3) (abstract or path
 * sockets, a send that cannot block the main thread for long), so we do
 * not write it again. unset_environment stays 0: nothing here execs, and
 * the later notifications need $NOTIFY_SOCKET.
 */
#include "cli/svcnotify.h"

#include "common/log.h"

#include <stdint.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

static void
notify(const char *state)
{
	int rc = sd_notify(0, state);

	/* 0: no $NOTIFY_SOCKET, not run by systemd: nothing to say. */
	if (rc < 0)
		log_debug("sd_notify %s: %s", state, strerror(-rc));
}

void
svcnotify_ready(void)
{
	notify("READY=1");
}

void
svcnotify_reloaded(int ok, const char *note)
{
	int rc;

	/* READY=1 either way: the daemon serves, with the last good set of
	 * users if this one was refused. systemd 252 has no way to fail a
	 * reload from a Type=notify service (Type=notify-reload is 253's),
	 * so `systemctl reload` succeeds; STATUS= is what `systemctl
	 * status` shows an admin, who would otherwise not know (found from
	 * outside). note: what the reload did not apply (relayftpd.ini's
	 * targets), or "". */
	rc = sd_notifyf(0, "READY=1\nSTATUS=%s%s",
	    ok ? "users file reloaded" :
	         "users file NOT reloaded (its errors are in the log): "
	         "serving the last good set of users",
	    note);
	if (rc < 0)
		log_debug("sd_notify READY=1: %s", strerror(-rc));
}

void
svcnotify_reloading(void)
{
	struct timespec ts;
	int rc;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0) {
		notify("RELOADING=1");
		return;
	}
	rc = sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	        (unsigned long long)ts.tv_nsec / 1000ULL);
	if (rc < 0)
		log_debug("sd_notify RELOADING=1: %s", strerror(-rc));
}

void
svcnotify_stopping(void)
{
	notify("STOPPING=1");
}

unsigned long long
svcnotify_watchdog_usec(void)
{
	uint64_t usec = 0;

	/* > 0 only with $WATCHDOG_USEC, and $WATCHDOG_PID naming this
	 * process if it is set; kept in the environment, as
	 * $NOTIFY_SOCKET is. */
	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return (unsigned long long)usec;
}

void
svcnotify_watchdog(void)
{
	notify("WATCHDOG=1");
}
