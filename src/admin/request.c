/*
 * request.c - parsers of the admin listener's request text (request.h).
 *
 * Must not: read past the given length, trust a NUL, or accept a target
 * name it had to cut; anything unexpected is -1 (the caller's 400).
 */
#include "admin/request.h"

#include "common/numparse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

int
request_host_is_loopback(const char *host)
{
	char name[64];
	const char *end, *port;
	size_t n;
	struct in_addr a4;
	struct in6_addr a6;
	int bracketed = host[0] == '[';

	if (bracketed) {
		end = strchr(host, ']');
		if (end == NULL)
			return 0;
		n = (size_t)(end - host - 1);
		port = end + 1;
		host++;
	} else {
		end = strchr(host, ':');
		n = end != NULL ? (size_t)(end - host) : strlen(host);
		port = host + n;
	}
	if (n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, host, n);
	name[n] = '\0';
	if (port[0] == ':') {
		uint64_t p;

		if (parse_u64(port + 1, 65535, &p) < 0)
			return 0;
	} else if (port[0] != '\0') {
		return 0;
	}
	/* Brackets hold an IPv6 literal alone (RFC 3986 3.2.2): "[localhost]"
	 * or "[127.0.0.1]" is no host name, and no browser sends it. */
	if (bracketed)
		return inet_pton(AF_INET6, name, &a6) == 1 &&
		    IN6_IS_ADDR_LOOPBACK(&a6);
	if (strcasecmp(name, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, name, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return 0;
}

/* A byte of an authority (RFC 3986 3.2: unreserved, pct-encoded,
 * sub-delims, ':' and the brackets of an IPv6 literal), '@' left out:
 * userinfo is refused (RFC 9110 4.2.4). */
static int
authority_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("-._~%!$&'()*+,;=:[]", c) != NULL;
}

enum request_target
request_target_path(
    const char *target, const char **path, const char **auth, size_t *authlen)
{
	size_t s = 0, a;

	*path = target;
	*auth = "";
	*authlen = 0;
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" (RFC
	 * 3986 3.1); without one the target is not absolute. */
	if (!((target[0] >= 'a' && target[0] <= 'z') ||
	        (target[0] >= 'A' && target[0] <= 'Z')))
		return REQUEST_TARGET_ORIGIN;
	while (target[s] != '\0' &&
	    ((target[s] >= 'a' && target[s] <= 'z') ||
	        (target[s] >= 'A' && target[s] <= 'Z') ||
	        (target[s] >= '0' && target[s] <= '9') || target[s] == '+' ||
	        target[s] == '-' || target[s] == '.'))
		s++;
	if (target[s] != ':')
		return REQUEST_TARGET_ORIGIN;
	if (!((s == 4 && strncasecmp(target, "http", 4) == 0) ||
	        (s == 5 && strncasecmp(target, "https", 5) == 0)))
		return REQUEST_TARGET_BAD;
	/* An http URI has an authority with a host (RFC 9110 4.2.1: one
	 * without is rejected as invalid). */
	if (target[s + 1] != '/' || target[s + 2] != '/')
		return REQUEST_TARGET_BAD;
	a = s + 3;
	s = a;
	while (target[s] != '\0' && target[s] != '/' && target[s] != '?') {
		if (!authority_byte(target[s]))
			return REQUEST_TARGET_BAD;
		s++;
	}
	if (s == a || target[a] == ':')
		return REQUEST_TARGET_BAD; /* no host */
	*auth = target + a;
	*authlen = s - a;
	*path = target[s] == '/' ? target + s : "/";
	return REQUEST_TARGET_ABSOLUTE;
}

static int
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* application/x-www-form-urlencoded "target=NAME", p[0..n). */
static int
form_target(const char *p, size_t n, char *name, size_t namelen)
{
	size_t o = 0;

	if (n < 7 || memcmp(p, "target=", 7) != 0)
		return -1;
	for (size_t i = 7; i < n; i++) {
		int c = (unsigned char)p[i];

		if (c == '&' || c == '=' || c == '\0')
			return -1;
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -1;
			hi = hexval(p[i + 1]);
			lo = hexval(p[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (o + 1 >= namelen)
			return -1;
		name[o++] = (char)c;
	}
	name[o] = '\0';
	return o > 0 ? 0 : -1; /* "target=" names nothing: say so */
}

/* {"target": "NAME"|null} or {}, p[0..n) without surrounding blanks. */
static int
json_target(const char *p, size_t n, char *name, size_t namelen)
{
	const char *end = p + n, *q;

	if (n < 2 || p[0] != '{' || end[-1] != '}')
		return -1;
	p++;
	end--;
	while (p < end && blank(*p))
		p++;
	if (p == end)
		return 0;
	if ((size_t)(end - p) < 8 || memcmp(p, "\"target\"", 8) != 0)
		return -1;
	p += 8;
	while (p < end && blank(*p))
		p++;
	if (p == end || *p++ != ':')
		return -1;
	while (p < end && blank(*p))
		p++;
	if ((size_t)(end - p) >= 4 && memcmp(p, "null", 4) == 0) {
		p += 4;
	} else {
		if (p == end || *p++ != '"')
			return -1;
		for (q = p; q < end && *q != '"'; q++)
			if (*q == '\\' || (unsigned char)*q < 0x20)
				return -1;
		/* "" names no target: refused, as the form's "target=" is,
		 * never taken for "all" (a script's empty variable). */
		if (q == end || q == p || (size_t)(q - p) >= namelen)
			return -1;
		memcpy(name, p, (size_t)(q - p));
		name[q - p] = '\0';
		p = q + 1;
	}
	while (p < end && blank(*p))
		p++;
	return p == end ? 0 : -1;
}

int
request_retry_target(const char *body, size_t len, char *name, size_t namelen)
{
	size_t a = 0;

	if (namelen == 0)
		return -1;
	name[0] = '\0';
	while (a < len && blank(body[a]))
		a++;
	while (len > a && blank(body[len - 1]))
		len--;
	if (a == len)
		return 0;
	if (body[a] == '{') {
		if (json_target(body + a, len - a, name, namelen) < 0) {
			name[0] = '\0';
			return -1;
		}
		return 0;
	}
	if (form_target(body + a, len - a, name, namelen) < 0) {
		name[0] = '\0';
		return -1;
	}
	return 0;
}
