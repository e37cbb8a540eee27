/*
 * cmdparse.c - see cmdparse.h.
 */
#include "server/cmdparse.h"

#include "common/numparse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#define TELNET_IAC  255
#define TELNET_WILL 251
#define TELNET_DONT 254

size_t
cmd_clean(char *line, size_t len)
{
	size_t r = 0, w = 0;

	while (r < len) {
		unsigned char c = (unsigned char)line[r];

		if (c != TELNET_IAC) {
			line[w++] = line[r++];
			continue;
		}
		if (r + 1 >= len) {
			r++;
			continue;
		}
		c = (unsigned char)line[r + 1];
		if (c == TELNET_IAC) {
			line[w++] = (char)TELNET_IAC;
			r += 2;
		} else if (c >= TELNET_WILL && c <= TELNET_DONT) {
			r += 3; /* option negotiation: IAC verb option */
		} else {
			r += 2; /* IP, DM, AO...: the ABOR prelude */
		}
	}
	if (w > len)
		w = len;
	if (w > 0 && line[w - 1] == '\r')
		w--;
	return w;
}

enum line_err
cmd_split(char *line, size_t len, char verb[CMD_VERB_MAX], const char **arg)
{
	size_t i = 0, v = 0;

	if (memchr(line, '\0', len) != NULL)
		return LINE_NUL;
	line[len] = '\0';
	/* Some clients put blanks before the verb. */
	while (i < len && line[i] == ' ')
		i++;
	if (i == len)
		return LINE_EMPTY;
	for (; i < len && line[i] != ' '; i++) {
		char c = line[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		/* Letters, and digits after the first (XSHA256). */
		if (!((c >= 'A' && c <= 'Z') ||
		        (v > 0 && c >= '0' && c <= '9')) ||
		    v + 1 >= CMD_VERB_MAX)
			return LINE_BADVERB;
		verb[v++] = c;
	}
	verb[v] = '\0';
	*arg = i < len ? line + i + 1 : line + len;
	return LINE_OK;
}

int
cmd_parse_port(const char *arg, struct sockaddr_storage *ss, socklen_t *len)
{
	unsigned v[6];
	const char *p = arg;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	for (int i = 0; i < 6; i++) {
		char num[4];
		size_t n = 0;
		uint64_t x;

		while (*p >= '0' && *p <= '9' && n < 3)
			num[n++] = *p++;
		num[n] = '\0';
		if (parse_u64(num, 255, &x) < 0)
			return -1;
		v[i] = (unsigned)x;
		if (i < 5 && *p++ != ',')
			return -1;
	}
	if (*p != '\0')
		return -1;
	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr =
	    htonl((uint32_t)(v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3]));
	sin->sin_port = htons((uint16_t)(v[4] << 8 | v[5]));
	if (sin->sin_port == 0)
		return -1;
	*len = sizeof(*sin);
	return 0;
}

int
cmd_parse_eprt(const char *arg, struct sockaddr_storage *ss, socklen_t *len)
{
	char d, fields[3][64];
	const char *p = arg;
	uint64_t proto, port;

	d = *p++;
	if (d < 33 || d > 126)
		return -1;
	for (int i = 0; i < 3; i++) {
		const char *end = strchr(p, d);
		size_t n;

		if (end == NULL)
			return -1;
		n = (size_t)(end - p);
		if (n == 0 || n >= sizeof(fields[i]))
			return -1;
		memcpy(fields[i], p, n);
		fields[i][n] = '\0';
		p = end + 1;
	}
	if (*p != '\0')
		return -1;
	if (parse_u64(fields[0], 2, &proto) < 0 ||
	    parse_u64(fields[2], 65535, &port) < 0 || port == 0)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (proto == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, fields[1], &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
		return 0;
	}
	if (proto == 2) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, fields[1], &s6->sin6_addr) != 1)
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	return -1;
}
