/*
 * fuzz_path.c - libFuzzer target for the path normaliser: the input is
 * "CWD-ARGUMENT\nPATH-ARGUMENT". Any result must stay a clean absolute
 * virtual path: it starts with '/', has no "." or ".." component, no "//",
 * no trailing '/', and no partial-file component.
 */
#include "common/limits.h"
#include "common/pathnorm.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const char *p)
{
	size_t n = strlen(p);

	if (p[0] != '/' || strstr(p, "//") != NULL ||
	    strstr(p, "/./") != NULL || strstr(p, "/../") != NULL ||
	    (n > 1 && p[n - 1] == '/') ||
	    (n >= 2 && strcmp(p + n - 2, "/.") == 0) ||
	    (n >= 3 && strcmp(p + n - 3, "/..") == 0) ||
	    strstr(p, "/" RFTP_PARTIAL_PREFIX) != NULL)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char cwd[RFTP_PATH_MAX], out[RFTP_PATH_MAX];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t first = nl ? (size_t)(nl - data) : size;

	if (path_normalize("/", (const char *)data, first, cwd, sizeof(cwd)) !=
	    PATH_OK)
		return 0;
	check(cwd);
	if (nl == NULL)
		return 0;
	if (path_normalize(cwd, (const char *)nl + 1, size - first - 1, out,
	        sizeof(out)) == PATH_OK)
		check(out);
	return 0;
}
