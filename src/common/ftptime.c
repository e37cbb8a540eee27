/*
 * ftptime.c - see ftptime.h.
 *
 * Dates become seconds with the days-from-civil calculation of the
 * proleptic Gregorian calendar (what RFC 3659 section 2.3 means by UTC
 * without leap seconds), so no time zone or timegm() is involved.
 */
#include "common/ftptime.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static unsigned
digits(const char *s, size_t n)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	return v;
}

static int
leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a valid date. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

enum ftptime_err
ftptime_parse(const char *s, size_t len, unsigned flags, struct timespec *out)
{
	static const unsigned mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
		31, 30, 31 };
	size_t nd = 0, frac = 0;
	unsigned y, mo, d, h, mi, sec = 0;
	long ns = 0, scale = 100000000L;

	while (nd < len && is_digit(s[nd]))
		nd++;
	if (nd < 12)
		return FTPTIME_NOT_A_TIME;
	if (nd < len) {
		/* Only a fraction may follow: "." and at least one digit
		 * ("20240101120000.txt" is a name, not a time). */
		if (s[nd] != '.' || nd + 1 == len)
			return FTPTIME_NOT_A_TIME;
		for (size_t i = nd + 1; i < len; i++) {
			if (!is_digit(s[i]))
				return FTPTIME_NOT_A_TIME;
			if (frac++ < 9) {
				ns += (long)(s[i] - '0') * scale;
				scale /= 10;
			}
		}
	}
	if (nd != 14 && !(nd == 12 && (flags & FTPTIME_MINUTES_OK)))
		return FTPTIME_BAD;
	y = digits(s, 4);
	mo = digits(s + 4, 2);
	d = digits(s + 6, 2);
	h = digits(s + 8, 2);
	mi = digits(s + 10, 2);
	if (nd == 14)
		sec = digits(s + 12, 2);
	if (y == 0 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 ||
	    sec > 60)
		return FTPTIME_BAD;
	if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return FTPTIME_BAD;
	/* A leap second (60) lands on the next minute's first second. */
	out->tv_sec = (time_t)(days_from_civil(y, mo, d) * 86400 +
	    (int64_t)h * 3600 + (int64_t)mi * 60 + sec);
	out->tv_nsec = ns;
	return FTPTIME_OK;
}

enum ftptime_err
ftptime_lead(
    const char *arg, unsigned flags, struct timespec *t, const char **path)
{
	size_t n = strcspn(arg, " ");
	enum ftptime_err e;

	e = ftptime_parse(arg, n, flags, t);
	if (e != FTPTIME_OK)
		return e;
	if (arg[n] != ' ' || arg[n + 1] == '\0')
		return FTPTIME_NOT_A_TIME;
	*path = arg + n + 1;
	return FTPTIME_OK;
}

enum ftptime_err
ftptime_utime5(const char *arg, struct timespec *atime, struct timespec *mtime,
    size_t *pathlen)
{
	struct timespec t[3]; /* atime, mtime, ctime (not settable) */
	size_t end = strlen(arg), start;
	enum ftptime_err worst = FTPTIME_OK;

	/* " UTC" last: the only zone the form allows. */
	if (end < 4 || strcasecmp(arg + end - 4, " UTC") != 0)
		return FTPTIME_NOT_A_TIME;
	end -= 4;
	for (int i = 2; i >= 0; i--) {
		enum ftptime_err e;

		start = end;
		while (start > 0 && arg[start - 1] != ' ')
			start--;
		if (start == 0 || start == end)
			return FTPTIME_NOT_A_TIME;
		e = ftptime_parse(
		    arg + start, end - start, FTPTIME_MINUTES_OK, &t[i]);
		if (e == FTPTIME_NOT_A_TIME)
			return FTPTIME_NOT_A_TIME;
		if (e == FTPTIME_BAD)
			worst = FTPTIME_BAD;
		end = start - 1; /* the space before the token */
	}
	if (end == 0)
		return FTPTIME_NOT_A_TIME; /* no path */
	if (worst != FTPTIME_OK)
		return worst;
	*atime = t[0];
	*mtime = t[1];
	*pathlen = end;
	return FTPTIME_OK;
}

int
ftptime_format(const struct timespec *t, char *out, size_t outlen)
{
	struct tm tm;
	time_t secs = t->tv_sec;
	size_t n;

	if (outlen < 15 || gmtime_r(&secs, &tm) == NULL ||
	    tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 1)
		return -1;
	/* Not strftime's %Y, which writes the year 999 in three digits: a
	 * time-val has fourteen (RFC 3659 2.3). */
	if (snprintf(out, outlen, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900,
	        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	        tm.tm_sec) != 14)
		return -1;
	n = 14;
	if (t->tv_nsec >= 1000000 && outlen >= 19) {
		int k = snprintf(
		    out + n, outlen - n, ".%03ld", t->tv_nsec / 1000000);

		if (k != 4)
			out[n] = '\0';
	}
	return 0;
}
