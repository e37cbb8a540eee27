/*
 * numparse.c - see numparse.h.
 */
#include "common/numparse.h"

#include <string.h>
#include <strings.h>

int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned)(*s - '0');
		if (d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int
parse_size(const char *s, uint64_t *out)
{
	char num[32];
	size_t len;
	uint64_t v, mult = 1;

	if (s == NULL)
		return -1;
	len = strlen(s);
	if (len == 0 || len >= sizeof(num))
		return -1;
	memcpy(num, s, len + 1);
	switch (num[len - 1]) {
	case 'k':
	case 'K':
		mult = 1ULL << 10;
		break;
	case 'm':
	case 'M':
		mult = 1ULL << 20;
		break;
	case 'g':
	case 'G':
		mult = 1ULL << 30;
		break;
	case 't':
	case 'T':
		mult = 1ULL << 40;
		break;
	default:
		break;
	}
	if (mult != 1)
		num[--len] = '\0';
	if (parse_u64(num, UINT64_MAX / mult, &v) < 0)
		return -1;
	*out = v * mult;
	return 0;
}

int
parse_port_range(const char *s, uint16_t *lo, uint16_t *hi)
{
	char a[16];
	const char *dash;
	uint64_t l, h;
	size_t n;

	dash = strchr(s, '-');
	if (dash == NULL) {
		if (parse_u64(s, 65535, &l) < 0 || l == 0)
			return -1;
		*lo = *hi = (uint16_t)l;
		return 0;
	}
	n = (size_t)(dash - s);
	if (n == 0 || n >= sizeof(a))
		return -1;
	memcpy(a, s, n);
	a[n] = '\0';
	if (parse_u64(a, 65535, &l) < 0 || parse_u64(dash + 1, 65535, &h) < 0)
		return -1;
	if (l == 0 || h < l)
		return -1;
	*lo = (uint16_t)l;
	*hi = (uint16_t)h;
	return 0;
}

int
parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "yes", "on", "true", "1" };
	static const char *const no[] = { "no", "off", "false", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int
parse_list_next(const char **cursor, char *item, size_t itemlen)
{
	const char *s = *cursor, *start;
	size_t n;

	while (*s == ',' || *s == ' ' || *s == '\t')
		s++;
	if (*s == '\0') {
		*cursor = s;
		return 0;
	}
	start = s;
	while (*s != '\0' && *s != ',' && *s != ' ' && *s != '\t')
		s++;
	n = (size_t)(s - start);
	*cursor = s;
	if (n >= itemlen)
		return -1;
	memcpy(item, start, n);
	item[n] = '\0';
	return 1;
}
