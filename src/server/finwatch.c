/*
 * finwatch.c - whether a clear-text upload's data FIN means "complete".
 *
 * Owns the look at the control connection after an upload's data FIN; the
 * receive loops (transfer.c) call it once per upload. It never reads or
 * writes the data connection or the file.
 *
 * An upload "ended cleanly" only if recv() returned 0 (FIN, not RST) and
 * the control connection is still open and did not send ABOR: in stream
 * mode a client killed mid-upload also closes its data connection, and only
 * the control connection tells the two apart. The kernel closes a dead
 * process's sockets one after the other (on Linux 6.x in reverse order of
 * their descriptors, so the data socket, opened last, goes first). So after
 * the data FIN we look at the control connection's kernel state
 * (poll and TCP_INFO: anything but ESTABLISHED, or a FIN/RST already
 * queued, means the client is gone) and then watch it for a bound counted
 * from the data FIN: a floor (RFTP_UPLOAD_FIN_FLOOR_US) plus the control
 * connection's minimum RTT, a margin for the two connections' FINs taking
 * paths of different length (ECMP), capped by upload_close_grace_ms. A live
 * client waits silently for our 226 and pays only that bound: about 0.2 ms
 * on loopback or a LAN.
 *
 * Not srtt/rttvar: on a control connection they measure the client's think
 * time, because our replies are acknowledged late (delayed ACK, piggybacked
 * on the next command). After 20 small uploads on loopback the server's
 * control socket showed rtt 2.87 ms, rttvar 2.79 ms and min_rtt 0.015 ms;
 * a bound of 4 x rttvar would have cost more than the old constant.
 *
 * The floor comes from measuring, on the 2-core machine this was built on,
 * the time from a SIGKILLed client's data FIN to its control FIN as a
 * server thread sees them (client with the control socket on the lower
 * descriptor, as curl and lftp have it, killed mid-send): at rest the
 * control FIN was already there in 277 of 300 kills and came within
 * 25 us (90 %) and 112 us (max) in the others. With two busy loops on
 * both cores and a load of 6, the killed process is often preempted
 * between its two closes: 3,000 kills gave 130 gaps over 20 us, 61 over
 * 100 us, 47 over 1 ms and 23 over 5 ms (max 19 ms). No fixed wait closes
 * that hole (the old 5 ms missed those 23 too). Real clients do worse:
 * killing curl, lftp and a raw client 60 times (test_kill_upload.py) at a
 * load of 5 to 9 published 3 to 6 truncated files with a 200 us watch and
 * 1 to 4 with 1 or 2 ms. So the floor holds only if no task was kept
 * from a CPU while we watched: the kernel's CPU pressure counter (PSI,
 * "some ... total=", microseconds during which at least one runnable task
 * waited for a CPU; live up to the read) is read when the watch starts
 * and when the floor ends. A dying client preempted between its two
 * closes is such a task for as long as it waits, so the counter moves
 * while it can still be on its way; then, or with more runnable tasks
 * than CPUs at the start, the watch goes on to the cap,
 * upload_close_grace_ms (5 ms by default, as before). A still counter
 * means every runnable task had a CPU for the whole floor: a dying client
 * was not waiting, and its control FIN is microseconds behind its data
 * FIN (the rest-time gaps above). This looks at the very window that
 * matters; an earlier version used the 10 s average (avg10), which kept
 * small uploads on the 5 ms path for seconds after any burst of load. No
 * PSI (a kernel built or booted without it) means the cap every time.
 * The instant count alone was not enough: at a
 * load of 16 it let 2 of 60 through. At a load of 20 on 2 cores even 5 ms
 * (old code and new alike) let 1 or 2 of 120 kills through; 50 ms let none.
 * No server-side signal proves a client alive: a killed process may wait
 * for a CPU any time between closing its two sockets, so a host that runs
 * that hot needs a larger cap, or TLS, whose close_notify is proof.
 * 0 turns the watch off (only the immediate look remains).
 */
#include "server/finwatch.h"

#include "common/limits.h"
#include "common/numparse.h"
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h> /* tcpi_min_rtt; glibc's tcp_info ends before it */
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* tcpi_state's value for ESTABLISHED (include/net/tcp_states.h), which
 * <linux/tcp.h> does not export. */
#define TCP_STATE_ESTABLISHED 1

static _Thread_local int slack_set;

static uint64_t
us_since(const struct timespec *t0)
{
	struct timespec t1;
	int64_t us;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (int64_t)(t1.tv_sec - t0->tv_sec) * 1000000 +
	    (t1.tv_nsec - t0->tv_nsec) / 1000;
	return us > 0 ? (uint64_t)us : 0;
}

/* Reads a small /proc file into buf (NUL-terminated); 0 or -1. */
static int
read_proc(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* The decimal digits at p up to the first byte of stop, as a number of at
 * most max; -1 if there are none or too many. */
static int
number_until(const char *p, const char *stop, uint64_t max, uint64_t *out)
{
	char num[24];
	size_t n = p != NULL ? strcspn(p, stop) : 0;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, p, n);
	num[n] = '\0';
	return parse_u64(num, max, out);
}

/* The CPU pressure counter: PSI's "some ... total=" in microseconds
 * (Documentation/accounting/psi.rst). 0, or -1 if there is none. */
static int
psi_cpu_some_us(uint64_t *out)
{
	char buf[256];
	const char *p;

	if (read_proc("/proc/pressure/cpu", buf, sizeof(buf)) < 0 ||
	    strncmp(buf, "some ", 5) != 0)
		return -1;
	p = strstr(buf, " total=");
	if (p == NULL || p > strchr(buf, '\n'))
		return -1;
	/* Microseconds since boot: no 32-bit bound (this host's passed
	 * 2^32 within days). */
	return number_until(p + strlen(" total="), "\n", UINT64_MAX, out);
}

/*
 * More runnable tasks now than CPUs this thread may use (/proc/loadavg's
 * fourth field; our own thread is one of them): a dying client may be
 * kept from a CPU right now. Unknown counts as crowded: the safe side.
 */
static int
host_cpu_crowded(void)
{
	char buf[256];
	const char *p = buf;
	uint64_t v = 0;
	cpu_set_t cpus;

	if (read_proc("/proc/loadavg", buf, sizeof(buf)) < 0)
		return 1;
	for (int field = 0; field < 3 && p != NULL; field++) {
		p = strchr(p, ' ');
		if (p != NULL)
			p++;
	}
	if (number_until(p, "/", UINT32_MAX, &v) < 0 ||
	    sched_getaffinity(0, sizeof(cpus), &cpus) < 0)
		return 1;
	return v > (uint64_t)CPU_COUNT(&cpus);
}

enum ctrl_event
finwatch_after_fin(struct session *s, const struct timespec *fin)
{
	uint64_t cap_us = s->srv->cfg.upload_close_grace_ms * 1000;
	uint64_t bound_us, spent_us, psi0 = 0, psi1 = 0;
	int psi_ok = 0;
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	enum ctrl_event ev = session_check_control(s, 0);

	if (ev != CTRL_QUIET || cap_us == 0)
		return ev;
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(s->ctrl_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0) {
		bound_us = cap_us; /* nothing measured: the admin's bound */
	} else if (ti.tcpi_state != TCP_STATE_ESTABLISHED) {
		/* CLOSE_WAIT (its FIN), CLOSE (a reset): the peer left. */
		return CTRL_DEAD;
	} else {
		/* Microseconds. min_rtt, not srtt/rttvar: see the top. */
		bound_us = RFTP_UPLOAD_FIN_FLOOR_US + (uint64_t)ti.tcpi_min_rtt;
		psi_ok = psi_cpu_some_us(&psi0) == 0;
		if (!psi_ok || host_cpu_crowded())
			bound_us = cap_us;
	}
	if (bound_us > cap_us)
		bound_us = cap_us;
	/* The default timer slack (50 us, prctl(2)) would add a quarter to
	 * a 200 us watch that every live client pays: ask for 1 us, once per
	 * session thread (it is a thread attribute). */
	if (!slack_set) {
		(void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
		slack_set = 1;
	}
	spent_us = us_since(fin);
	if (spent_us < bound_us) {
		ev = session_check_control(s, (long)(bound_us - spent_us));
		if (ev != CTRL_QUIET)
			return ev;
	}
	/* The floor is enough only if no task waited for a CPU meanwhile
	 * (see the top); else watch on up to the cap. */
	if (!psi_ok || bound_us >= cap_us ||
	    (psi_cpu_some_us(&psi1) == 0 && psi1 == psi0))
		return CTRL_QUIET;
	spent_us = us_since(fin);
	if (spent_us >= cap_us)
		return CTRL_QUIET;
	return session_check_control(s, (long)(cap_us - spent_us));
}
