/*
 * fuzz_cmdline.c - libFuzzer target for everything that parses a control
 * line: Telnet cleaning, verb/argument split, PORT and EPRT arguments.
 */
#include "server/cmdparse.h"

#include "common/limits.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[RFTP_LINE_MAX + 1];
	char verb[CMD_VERB_MAX];
	const char *arg;
	struct sockaddr_storage ss;
	socklen_t len;
	size_t n = size > RFTP_LINE_MAX ? RFTP_LINE_MAX : size;

	memcpy(line, data, n);
	n = cmd_clean(line, n);
	if (cmd_split(line, n, verb, &arg) != LINE_OK)
		return 0;
	if (strlen(verb) >= CMD_VERB_MAX)
		__builtin_trap();
	cmd_parse_port(arg, &ss, &len);
	cmd_parse_eprt(arg, &ss, &len);
	return 0;
}
