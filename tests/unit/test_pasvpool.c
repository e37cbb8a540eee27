/*
 * test_pasvpool.c - passive listeners without a configured range
 * (server/pasvpool.h).
 *
 * Without passive_ports every PASV/EPSV listens on a port of the kernel's
 * ephemeral range, picked at random by the pool instead of by bind(0),
 * whose search slows to milliseconds when thousands of ports sit in
 * TIME_WAIT. What the pool may pick comes from the two /proc files; ports
 * reserved there, or a range it cannot read, leave the pick to the kernel.
 * Each listener accepts a connection, and a port that a live socket of
 * another program holds is never taken (another port is).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/pasvpool.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
test_overlap_text(void **state)
{
	uint16_t lo = 1, hi = 1;

	(void)state;
	assert_int_equal(pasvpool_ephemeral_overlap(
	                     "32768\t60999\n", "\n", 50000, 50100, &lo, &hi),
	    101);
	assert_int_equal(lo, 32768);
	assert_int_equal(hi, 60999);
	/* Partly inside, partly above. */
	assert_int_equal(pasvpool_ephemeral_overlap(
	                     "32768\t60999\n", "", 60990, 61009, &lo, &hi),
	    10);
	/* Outside: below and above. */
	assert_int_equal(pasvpool_ephemeral_overlap(
	                     "32768\t60999", "", 20000, 20019, &lo, &hi),
	    0);
	assert_int_equal(pasvpool_ephemeral_overlap(
	                     "32768\t60999", "", 61000, 61100, &lo, &hi),
	    0);
	/* Reserved ports are not taken by outgoing connections. */
	assert_int_equal(pasvpool_ephemeral_overlap("32768\t60999",
	                     "8080,50000-50100\n", 50000, 50100, &lo, &hi),
	    0);
	assert_int_equal(pasvpool_ephemeral_overlap("32768\t60999",
	                     "50000-50049, 50060\n", 50000, 50100, &lo, &hi),
	    50);
	/* Text that cannot be read. */
	assert_int_equal(
	    pasvpool_ephemeral_overlap("32768", "", 50000, 50100, &lo, &hi),
	    -1);
	assert_int_equal(pasvpool_ephemeral_overlap(
	                     "32768\t60999", "50000-", 50000, 50100, &lo, &hi),
	    -1);
	assert_int_equal(pasvpool_ephemeral_overlap(
	                     "32768\t60999", "x", 50000, 50100, &lo, &hi),
	    -1);
}

static void
test_range_text(void **state)
{
	uint16_t lo = 1, hi = 1;

	(void)state;
	assert_int_equal(
	    pasvpool_ephemeral_range("32768\t60999\n", "\n", &lo, &hi), 0);
	assert_int_equal(lo, 32768);
	assert_int_equal(hi, 60999);
	assert_int_equal(
	    pasvpool_ephemeral_range("1024 1024", "", &lo, &hi), 0);
	assert_int_equal(lo, 1024);
	assert_int_equal(hi, 1024);
	/* Reserved ports, or a range we would not pick from: the kernel
	 * picks. */
	assert_int_equal(
	    pasvpool_ephemeral_range("32768\t60999\n", "40000\n", &lo, &hi),
	    -1);
	assert_int_equal(lo, 0);
	assert_int_equal(pasvpool_ephemeral_range("32768", "", &lo, &hi), -1);
	assert_int_equal(
	    pasvpool_ephemeral_range("500\t60999", "", &lo, &hi), -1);
	assert_int_equal(
	    pasvpool_ephemeral_range("60999\t32768", "", &lo, &hi), -1);
	assert_int_equal(
	    pasvpool_ephemeral_range("32768\t70000", "", &lo, &hi), -1);
	assert_int_equal(
	    pasvpool_ephemeral_range("32768\t60999 x", "", &lo, &hi), -1);
	assert_int_equal(pasvpool_ephemeral_range("", "", &lo, &hi), -1);
	assert_int_equal(pasvpool_ephemeral_range(NULL, "", &lo, &hi), -1);
}

static struct sockaddr_storage
loopback(socklen_t *len)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	s4->sin_family = AF_INET;
	s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*len = sizeof(*s4);
	return ss;
}

/* The range this machine's kernel uses, as the pool reads it. */
static int
machine_range(uint16_t *lo, uint16_t *hi)
{
	char range[64] = "", reserved[256] = "";
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	FILE *g = fopen("/proc/sys/net/ipv4/ip_local_reserved_ports", "r");
	size_t n;

	if (f != NULL) {
		n = fread(range, 1, sizeof(range) - 1, f);
		range[n] = '\0';
		fclose(f);
	}
	if (g != NULL) {
		n = fread(reserved, 1, sizeof(reserved) - 1, g);
		reserved[n] = '\0';
		fclose(g);
	}
	return pasvpool_ephemeral_range(range, reserved, lo, hi);
}

static void
test_listeners_in_range_accept(void **state)
{
	struct pasvpool *p = pasvpool_new(0, 0);
	struct sockaddr_storage ss;
	socklen_t len;
	uint16_t lo = 0, hi = 0, port;
	int pinned;

	(void)state;
	assert_non_null(p);
	ss = loopback(&len);
	pinned = machine_range(&lo, &hi) == 0;
	for (int i = 0; i < 200; i++) {
		struct sockaddr_in to;
		int fd = pasvpool_listen(p, &ss, len, 0, &port), c, a;

		assert_true(fd >= 0);
		assert_true(port > 0);
		if (pinned) {
			assert_true(port >= lo);
			assert_true(port <= hi);
		}
		/* A client reaches it. */
		memset(&to, 0, sizeof(to));
		to.sin_family = AF_INET;
		to.sin_port = htons(port);
		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		c = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(c >= 0);
		assert_int_equal(
		    connect(c, (struct sockaddr *)&to, sizeof(to)), 0);
		for (int k = 0; k < 1000; k++) {
			a = accept(fd, NULL, NULL);
			if (a >= 0)
				break;
			usleep(1000);
		}
		assert_true(a >= 0);
		close(a);
		close(c);
		pasvpool_close(p, fd, port);
	}
	pasvpool_free(p);
}

static void
test_live_ports_are_not_taken(void **state)
{
	struct pasvpool *p = pasvpool_new(0, 0);
	struct sockaddr_storage ss;
	socklen_t len;
	uint16_t lo = 0, hi = 0, port;
	int held[16], nheld = 0, fd, in_range = 0;

	(void)state;
	assert_non_null(p);
	ss = loopback(&len);
	/* Twelve ports of sixteen held by another program's live
	 * listeners: the pool picks among the sixteen and never opens a
	 * held one, whether it finds a free one of the four or, after its
	 * tries, lets the kernel pick. The holders set SO_REUSEADDR only so
	 * that a host busy with connections in TIME_WAIT still lets them
	 * bind; a live listener keeps its port whatever the flag. */
	/* From below the usual ephemeral range (32768): there, a host that
	 * just made many connections has every port in TIME_WAIT of a
	 * socket without SO_REUSEADDR, which no bind may share. */
	for (uint32_t base = 20000; base < 65000 && nheld < 12; base += 16) {
		for (int k = 0; k < nheld; k++)
			close(held[k]);
		nheld = 0;
		for (int i = 0; i < 12; i++) {
			struct sockaddr_in at;
			int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;

			memset(&at, 0, sizeof(at));
			at.sin_family = AF_INET;
			at.sin_port = htons((uint16_t)(base + i));
			at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			if (s < 0 ||
			    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one,
			        sizeof(one)) != 0 ||
			    bind(s, (struct sockaddr *)&at, sizeof(at)) != 0 ||
			    listen(s, 1) != 0) {
				if (s >= 0)
					close(s);
				break;
			}
			held[nheld++] = s;
		}
		lo = (uint16_t)base;
		hi = (uint16_t)(base + 15);
	}
	assert_int_equal(nheld, 12);
	pasvpool_set_ephemeral(p, lo, hi);
	for (int i = 0; i < 200; i++) {
		fd = pasvpool_listen(p, &ss, len, 0, &port);
		assert_true(fd >= 0);
		assert_false(port >= lo && port < lo + 12);
		in_range += port >= lo && port <= hi;
		pasvpool_close(p, fd, port);
	}
	/* (3/4)^8: one pick in ten goes to the kernel; most stay. */
	assert_true(in_range > 100);
	for (int k = 0; k < nheld; k++)
		close(held[k]);
	pasvpool_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_text),
		cmocka_unit_test(test_overlap_text),
		cmocka_unit_test(test_listeners_in_range_accept),
		cmocka_unit_test(test_live_ports_are_not_taken),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
