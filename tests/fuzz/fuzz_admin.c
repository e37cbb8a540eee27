/*
 * fuzz_admin.c - libFuzzer target for what the admin listener parses or
 * writes from untrusted bytes (admin/request.h, admin/json.h): the input
 * is a retry body, a Host header, a request target and a JSON string
 * value at once. A target's path and authority lie inside it.
 * A retry target must be shorter than its buffer and NUL-free; the JSON
 * string's text must be valid UTF-8 without a raw control character.
 */
#include "common/json.h"
#include "admin/request.h"
#include "common/limits.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[RFTP_NAME_MAX + 1], host[256];
	struct buf b;
	struct json j;
	size_t n;

	if (size > RFTP_ADMIN_BODY_MAX)
		size = RFTP_ADMIN_BODY_MAX;
	if (request_retry_target(
	        (const char *)data, size, name, sizeof(name)) == 0 &&
	    strlen(name) >= sizeof(name))
		__builtin_trap();
	n = size < sizeof(host) - 1 ? size : sizeof(host) - 1;
	memcpy(host, data, n);
	host[n] = '\0';
	(void)request_host_is_loopback(host);
	{
		const char *path, *auth;
		size_t authlen;

		if (request_target_path(host, &path, &auth, &authlen) ==
		        REQUEST_TARGET_ABSOLUTE &&
		    (auth < host || auth + authlen > host + n ||
		        path[0] != '/' ||
		        ((path < host || path >= host + n) &&
		            strcmp(path, "/") != 0)))
			__builtin_trap();
	}
	buf_init(&b, 16 * RFTP_ADMIN_BODY_MAX);
	json_init(&j, &b);
	json_strn(&j, (const char *)data, size);
	if (json_failed(&j))
		__builtin_trap();
	for (size_t i = 0; i < b.len;) {
		size_t len =
		    utf8_seq((const unsigned char *)b.data + i, b.len - i);

		if (len == 0 || (unsigned char)b.data[i] < 0x20)
			__builtin_trap();
		i += len;
	}
	buf_free(&b);
	return 0;
}
