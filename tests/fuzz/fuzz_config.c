/*
 * fuzz_config.c - libFuzzer target for the config and users.ini loaders:
 * the input is written to a file and loaded as both. Errors are fine;
 * crashes, leaks and undefined behaviour are not.
 */
#include "common/buf.h"
#include "common/config.h"
#include "common/users.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void
remove_file(void)
{
	unlink(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = malloc(sizeof(*cfg));
	struct user_set *set;
	struct buf errs;
	FILE *f;

	if (cfg == NULL)
		return 0;
	if (path[0] == '\0') {
		int fd;

		snprintf(path, sizeof(path), "/tmp/rftp-fuzz-XXXXXX");
		fd = mkstemp(path);
		if (fd < 0)
			abort();
		close(fd);
		atexit(remove_file);
	}
	f = fopen(path, "w");
	if (f == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	buf_init(&errs, 1024 * 1024);
	config_load(path, cfg, &errs);
	set = users_set_load(path, &errs);
	users_set_free(set);
	buf_free(&errs);
	free(cfg);
	return 0;
}
