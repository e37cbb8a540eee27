/*
 * fuzz_ftptime.c - libFuzzer target for the time arguments of MFMT, MDTM
 * TIME and SITE UTIME (common/ftptime.h): the input is one argument line.
 * A parsed time must have 0 <= tv_nsec < 1e9 and survive formatting and
 * parsing back; a path must be a non-empty tail (or head) of the line.
 */
#include "common/ftptime.h"
#include "common/limits.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_time(const struct timespec *t)
{
	struct timespec back;
	struct timespec whole = { t->tv_sec, 0 };
	char s[24];

	if (t->tv_nsec < 0 || t->tv_nsec >= 1000000000L)
		__builtin_trap();
	if (ftptime_format(&whole, s, sizeof(s)) == 0 &&
	    (ftptime_parse(s, strlen(s), 0, &back) != FTPTIME_OK ||
	        back.tv_sec != t->tv_sec || back.tv_nsec != 0))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[RFTP_LINE_MAX + 1];
	struct timespec a, m;
	const char *path = NULL;
	size_t len, plen = 0;

	if (size > RFTP_LINE_MAX)
		size = RFTP_LINE_MAX;
	memcpy(line, data, size);
	line[size] = '\0';
	len = strlen(line);
	for (unsigned flags = 0; flags <= FTPTIME_MINUTES_OK; flags++) {
		if (ftptime_parse(line, len, flags, &m) == FTPTIME_OK)
			check_time(&m);
		if (ftptime_lead(line, flags, &m, &path) == FTPTIME_OK) {
			check_time(&m);
			if (path <= line || path >= line + len ||
			    path[-1] != ' ')
				__builtin_trap();
		}
	}
	if (ftptime_utime5(line, &a, &m, &plen) == FTPTIME_OK) {
		check_time(&a);
		check_time(&m);
		if (plen == 0 || plen >= len || line[plen] != ' ')
			__builtin_trap();
	}
	return 0;
}
