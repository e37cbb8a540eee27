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
 * client waits silently for our 226 and pays only that bound: about 1 ms
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
 * 1 to 4 with 1 or 2 ms. So the floor is used only while the host's CPUs
 * are not contended (host_cpu_busy: no CPU pressure in the last 10 s and
 * no more runnable tasks than CPUs now), when a dying process is not kept
 * from a CPU; otherwise the watch is the cap, upload_close_grace_ms (5 ms
 * by default, as before). The instant count alone was not enough: at a
 * load of 16 it let 2 of 60 through. Nor does a look at the pressure
 * during the watch alone do (tried: PSI's live "total" read at the start
 * and the end of the floor): a client preempted between its closes waits
 * for a CPU one path delay before its FINs reach us, so when anything
 * delays them (the 20 ms relay of test_kill_upload.py, whose TCP hides
 * that delay from our min RTT) the pressure is over by the time we watch,
 * and a killed lftp was published under ASan. The 10 s average covers any
 * such delay. At a load of 20 on 2 cores even 5 ms
 * (old code and new alike) let 1 or 2 of 120 kills through; 50 ms let none.
 * No server-side signal proves a client alive: a killed process may wait
 * for a CPU any time between closing its two sockets, so a host that runs
 * that hot needs a larger cap, or TLS, whose close_notify is proof.
 *
 * The floor was 200 us, from those kills straight over loopback. A relay
 * that terminates TCP between the client and us (test_kill_upload.py's
 * 20 ms link, an HAProxy in front of the server) sends each connection's
 * FIN when its own event loop gets to it, and its min RTT to us hides the
 * link. Through that relay, 161 kills whose control FIN came after we
 * read the data FIN showed gaps of 75 us (median), 187 us (90 %), 13 over
 * 200 us (up to 943 us, and one of 7.9 ms while the host was busy: the
 * cap's case); at rest a 224 us gap published a killed lftp's upload, in 2
 * of 14 runs of that test. Hence 1 ms: no gap outside the busy case
 * reached it, and on the bench, whose client keeps the CPUs contended, the
 * small-file rows pay the cap either way.
 * 0 turns the watch off (only the immediate look remains).
 *
 * Not the 226 first and the watch after it (tried, measured and dropped:
 * 2,971 against 2,199 small uploads a second at rest on one session, 620
 * to 676 against 525 to 570 MB/s with 32 clients). A client that reads
 * 226 may look for the file at once (another session's RETR, a script
 * reading the folder): it must be there, so the publish cannot wait for
 * the watch. And after our 226 a killed client's close cannot be told
 * from a live one that read the 226 and hung up without QUIT (Python's
 * ftplib close(), many devices): an end whose ACK covers our 226 proves
 * the read only straight from the client's kernel (Linux resets a socket
 * closed with unread data); behind a relay that terminates TCP
 * (test_kill_upload.py's, HAProxy) the relay acknowledges it, and killed
 * clients' partial uploads were published through it.
 *
 * The client can prove it instead, in clear text too: RFC 959's ALLO
 * declares the size before the STOR. An upload from byte 0 whose data FIN
 * comes after exactly the declared count is complete on the client's own
 * word, with no watch: a client killed mid-upload has sent fewer bytes
 * (a count that differs gets the watch as before). What cannot be told
 * from a live client this way is a process killed after its last byte
 * and before its close, whose upload was whole anyway.
 */
#include "server/finwatch.h"

#include "common/limits.h"
#include "common/numparse.h"
#include "common/tcpinfo.h"
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
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

/* The decimal digits at p up to the first byte of stop, as a number;
 * -1 if there are none or too many. */
static int
number_until(const char *p, const char *stop, uint64_t *out)
{
	char num[24];
	size_t n = p != NULL ? strcspn(p, stop) : 0;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, p, n);
	num[n] = '\0';
	return parse_u64(num, UINT32_MAX, out);
}

/*
 * Whether a process on this host may now wait for a CPU: then a client
 * killed here may be kept from closing its second socket for
 * milliseconds. Two looks: the CPU pressure of the last 10 s (PSI, "some
 * avg10" at 1 % or more: tasks waited for a CPU lately), and the instant
 * count of runnable tasks in /proc/loadavg's fourth field against the CPUs
 * this thread may use (our thread and a preempted dying client are two
 * of them). Unknown (no /proc, a parse error) counts as busy: the safe
 * side.
 */
/*
 * PSI's CPU "some avg10" at 1 % or more: 1; below: 0; no PSI (the file is
 * missing: look at the runnable count alone) -1; unreadable: 1. The
 * kernel recomputes the averages every 2 s (PSI_FREQ), so one read per
 * PSI_REREAD_MS serves every upload in between instead of an open and a
 * read per file.
 */
#define PSI_REREAD_MS 500
static _Atomic int64_t psi_read_at_ms = -1;
static _Atomic int psi_verdict;

static int
cpu_pressure(void)
{
	struct timespec now;
	int64_t now_ms, last = atomic_load(&psi_read_at_ms);
	char buf[256];
	const char *p;
	uint64_t v = 0;
	int verdict;

	clock_gettime(CLOCK_MONOTONIC, &now);
	now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	if (last >= 0 && now_ms - last < PSI_REREAD_MS)
		return atomic_load(&psi_verdict);
	/* "some avg10=1.23 avg60=..." (Documentation/accounting/psi.rst). */
	if (read_proc("/proc/pressure/cpu", buf, sizeof(buf)) < 0)
		verdict = errno == ENOENT ? -1 : 1;
	else if ((p = strstr(buf, "some avg10=")) == NULL ||
	    number_until(p + strlen("some avg10="), ".", &v) < 0)
		verdict = 1;
	else
		verdict = v >= 1;
	atomic_store(&psi_verdict, verdict);
	atomic_store(&psi_read_at_ms, now_ms);
	return verdict;
}

static int
host_cpu_busy(void)
{
	char buf[256];
	const char *p;
	uint64_t v = 0;
	cpu_set_t cpus;

	if (cpu_pressure() == 1)
		return 1;
	if (read_proc("/proc/loadavg", buf, sizeof(buf)) < 0)
		return 1;
	p = buf;
	for (int field = 0; field < 3 && p != NULL; field++) {
		p = strchr(p, ' ');
		if (p != NULL)
			p++;
	}
	if (number_until(p, "/", &v) < 0 ||
	    sched_getaffinity(0, sizeof(cpus), &cpus) < 0)
		return 1;
	return v > (uint64_t)CPU_COUNT(&cpus);
}

enum ctrl_event
finwatch_after_fin(struct session *s, const struct timespec *fin, uint64_t got,
    const uint64_t *declared)
{
	uint64_t cap_us = s->srv->cfg.upload_close_grace_ms * 1000;
	uint64_t bound_us, spent_us;
	struct tcp_info ti;
	enum ctrl_event ev = session_check_control(s, 0);
	size_t filled;

	if (ev != CTRL_QUIET)
		return ev;
	/* The client declared this count with ALLO before the first byte:
	 * a process killed mid-upload cannot have sent it all, so the FIN
	 * is the end it announced. (Its FIN or reset on the control
	 * connection, if already there, was seen by the look above.) */
	if (declared != NULL && got == *declared)
		return CTRL_QUIET;
	/* Each field only if the kernel's copy reaches it: a kernel before
	 * 4.6 fills no tcpi_min_rtt, whose 0 would make the watch the bare
	 * floor; a state not filled is no "peer left". */
	filled = tcpinfo_read_some(s->ctrl_fd, &ti);
	/* CLOSE_WAIT (its FIN), CLOSE (a reset): the peer left. */
	if (filled >= TCPINFO_THROUGH(tcpi_state) &&
	    ti.tcpi_state != TCP_STATE_ESTABLISHED)
		return CTRL_DEAD;
	if (cap_us == 0)
		return CTRL_QUIET;
	if (filled < TCPINFO_THROUGH(tcpi_min_rtt)) {
		bound_us = cap_us; /* nothing measured: the admin's bound */
	} else {
		/* Microseconds. min_rtt, not srtt/rttvar: see the top. */
		bound_us = RFTP_UPLOAD_FIN_FLOOR_US + (uint64_t)ti.tcpi_min_rtt;
		if (host_cpu_busy())
			bound_us = cap_us;
	}
	if (bound_us > cap_us)
		bound_us = cap_us;
	/* The default timer slack (50 us, prctl(2)) would lengthen the
	 * short watch that every live client pays: ask for 1 us, once per
	 * session thread (it is a thread attribute). */
	if (!slack_set) {
		(void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
		slack_set = 1;
	}
	spent_us = us_since(fin);
	if (spent_us >= bound_us)
		return CTRL_QUIET;
	return session_check_control(s, (long)(bound_us - spent_us));
}
